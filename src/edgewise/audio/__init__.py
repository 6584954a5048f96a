"""Speech to text on the device and the voice-note pipeline (extra ``edgewise[audio]``).

faster-whisper is imported lazily: ``import edgewise`` works without the extra, and using
speech without it raises ``MissingExtraError`` with the install line.
"""

from __future__ import annotations

from edgewise.audio.actions import ActionItem
from edgewise.audio.decode import AudioSource
from edgewise.audio.transcribe import (
    DroppedSegment,
    Segment,
    Transcriber,
    Transcript,
    TranscriptStream,
    transcribe,
)
from edgewise.audio.voice_note import VoiceNote, note_from_transcript, voice_note

__all__ = [
    "ActionItem",
    "AudioSource",
    "DroppedSegment",
    "Segment",
    "Transcriber",
    "Transcript",
    "TranscriptStream",
    "VoiceNote",
    "note_from_transcript",
    "transcribe",
    "voice_note",
]
