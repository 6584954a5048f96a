"""A voice note, all on the device: transcript, key-point summary, action items.

``voice_note(path)`` transcribes the recording (``edgewise.audio.transcribe``), summarizes the
transcript as key points (``edgewise.tasks.summarize``, long transcripts split and combined) and
pulls out action items (``edgewise.audio.actions``: per-sentence schema extraction with the
bundled language model, grounded in the sentence, dates resolved against the recording date).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from edgewise.audio.actions import ActionItem, sentence_items
from edgewise.audio.decode import AudioSource
from edgewise.audio.metrics import normalize
from edgewise.audio.transcribe import Progress, Transcriber, Transcript
from edgewise.engines.base import Engine
from edgewise.languages import language_name

_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+")


class VoiceNote(BaseModel):
    """A transcribed, summarized voice note with its action items."""

    name: str = Field(description="The file name, or 'audio' for bytes.")
    reference_date: str = Field(description="The date relative dates were resolved against.")
    transcript: Transcript
    summary: list[str] = Field(description="Key points of the transcript.")
    action_items: list[ActionItem]

    def to_markdown(self) -> str:
        t = self.transcript
        lang = language_name(t.language) if t.language else "no speech"
        if t.language_probability is not None:
            lang += f" ({t.language_probability:.2f})"
        minutes, seconds = divmod(int(round(t.duration)), 60)
        lines = [
            f"# Voice note: {self.name}",
            "",
            f"*{self.reference_date} · {minutes}:{seconds:02d} · {lang} · {t.model}*",
            "",
            "## Summary",
            "",
        ]
        lines += [f"- {p}" for p in self.summary] or ["(nothing was said)"]
        lines += ["", "## Action items", ""]
        for item in self.action_items:
            who = f"**{item.who}**: " if item.who else ""
            due = f" (due {item.when})" if item.when else ""
            lines.append(f"- [ ] {who}{item.what}{due}")
        if not self.action_items:
            lines.append("(none found)")
        lines += ["", "## Transcript", ""]
        lines += [f"[{_mmss(s.start)}] {s.text}" for s in t.segments] or ["(nothing was said)"]
        for warning in t.warnings:
            lines += ["", f"*Warning: {warning}.*"]
        if t.dropped:
            lines += ["", f"*{len(t.dropped)} segment(s) dropped as likely made up (see --json).*"]
        return "\n".join(lines) + "\n"


def _mmss(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m:02d}:{s:02d}"


def sentences_with_times(transcript: Transcript) -> list[tuple[str, float | None]]:
    """The transcript's sentences, each with the start of the segment it begins in."""
    out: list[tuple[str, float | None]] = []
    text, starts = "", []
    for seg in transcript.segments:
        starts.append((len(text) + (1 if text else 0), seg.start))
        text = f"{text} {seg.text}" if text else seg.text
    pos = 0
    for piece in _SENTENCE_END.split(text):
        at = text.find(piece, pos)
        pos = at + len(piece)
        start = None
        for offset, seconds in starts:
            if offset <= at:
                start = seconds
        if piece.strip():
            out.append((piece.strip(), start))
    return out


def grounded_points(points: list[str], transcript: str, share: float = 0.6) -> list[str]:
    """The key points of three words or more, mostly (``share``) the transcript's own words.

    A 135M model sometimes echoes its instruction ("List the key points ...") or invents a
    point, or returns a greeting ("Hola equipo") as a point; those are dropped.
    """
    said = set(normalize(transcript))
    kept = []
    for point in points:
        words = normalize(point)
        if len(words) >= 3 and sum(w in said for w in words) >= share * len(words):
            kept.append(point)
    return kept


def _reference(audio: AudioSource, given: date | None) -> date:
    if given is not None:
        return given
    if isinstance(audio, (str, os.PathLike)):
        try:
            return datetime.fromtimestamp(Path(audio).stat().st_mtime).date()
        except OSError:
            pass
    return date.today()


def voice_note(
    audio: AudioSource,
    *,
    language: str | None = None,
    speech_model: str | Path | None = None,
    engine: Engine | None = None,
    reference_date: date | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    summary_progress: Callable[[int, int], None] | None = None,
    items_progress: Callable[[int, int], None] | None = None,
) -> VoiceNote:
    """Transcribe, summarize and list the action items of a recording, on the device.

    ``reference_date`` (default: the file's modification date, i.e. when it was recorded, or
    today for bytes) anchors "tomorrow", "by Friday", ... ``engine``: the language model for
    the summary and the action items (default: the strongest model installed, see
    ``edgewise.bundled.default_model``).
    """
    ref = _reference(audio, reference_date)
    transcript = Transcriber(speech_model, language=language, threads=threads).transcribe(
        audio, progress=progress
    )
    name = getattr(audio, "name", None) if not isinstance(audio, (str, os.PathLike)) else audio
    return note_from_transcript(
        transcript,
        name=Path(str(name)).name if name else "audio",
        reference_date=ref,
        engine=engine,
        summary_progress=summary_progress,
        items_progress=items_progress,
    )


def note_from_transcript(
    transcript: Transcript,
    *,
    name: str = "audio",
    reference_date: date | None = None,
    engine: Engine | None = None,
    summary_progress: Callable[[int, int], None] | None = None,
    items_progress: Callable[[int, int], None] | None = None,
) -> VoiceNote:
    """The voice note of an existing transcript: key-point summary and action items (the
    language-model half of ``voice_note``; a server runs the two halves on different workers)."""
    from edgewise.tasks import default_engine
    from edgewise.tasks.summarize import Summarizer

    ref = reference_date or date.today()
    summary: list[str] = []
    items: list[ActionItem] = []
    if transcript.text.strip():
        engine = engine or default_engine()
        words = len(transcript.text.split())
        result = Summarizer(
            engine, type="key_points", length="short" if words < 200 else "medium"
        ).summarize(transcript.text, progress=summary_progress)
        points = result.points or [p[2:] for p in result.text.splitlines() if p.startswith("- ")]
        summary = grounded_points(points, transcript.text)
        items = sentence_items(
            sentences_with_times(transcript),
            language=transcript.language,
            reference=ref,
            engine=engine,
            progress=items_progress,
        )
    return VoiceNote(
        name=name,
        reference_date=ref.isoformat(),
        transcript=transcript,
        summary=summary,
        action_items=items,
    )
