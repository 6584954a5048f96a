"""Speech to text on the device with faster-whisper (CTranslate2, int8 on the CPU).

A recording is decoded a block at a time and cut into pieces of about ``piece_seconds`` (60) at
the quietest moment near each piece's end (a pause between words), so a long file never sits in
memory whole (peak memory follows the piece length: Silero VAD alone takes about 0.4 MB per
second of the piece it looks at); each piece goes through faster-whisper with voice-activity filtering (Silero VAD)
and its segments stream out as they are decoded, with timestamps in the whole file's time. A
piece with no speech at all never reaches the speech model.

Which model: ``tiny.en`` for English (fast), ``base`` for other languages. With no language
given and both installed, the base model detects the language on the first speech and an
English recording then goes to tiny.en.

Every segment passes the guard (``edgewise.audio.guard``); dropped ones are listed with the
reason in ``Transcript.dropped``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from edgewise.audio import guard
from edgewise.audio.decode import SAMPLE_RATE, AudioReader, AudioSource
from edgewise.audio.models import SpeechModel, installed, load, require_faster_whisper, resolve
from edgewise.errors import InputError

Progress = Callable[[float, "float | None"], None]  # (seconds done, total seconds or None)
FORMATS = ("text", "srt", "vtt", "json")


class Segment(BaseModel):
    """A stretch of speech and its text; times in seconds from the start of the file."""

    id: int
    start: float
    end: float
    text: str
    avg_logprob: float = Field(description="Mean token log-probability (closer to 0: surer).")
    no_speech_prob: float = Field(description="The model's probability that nothing was said.")
    compression_ratio: float = Field(description="gzip ratio of the window's text (loops > 2.4).")


class DroppedSegment(BaseModel):
    """A segment the guard removed, and why."""

    start: float
    end: float
    text: str
    reason: str = Field(description="no_speech, repetition or empty.")
    detail: str


class Transcript(BaseModel):
    """The text of a recording, its segments, its language, and what was dropped."""

    text: str
    language: str | None = Field(description="ISO 639-1 code; None when nothing was said.")
    language_probability: float | None = Field(
        description="The detector's probability; None when the language was given or assumed."
    )
    duration: float = Field(description="Seconds of audio decoded.")
    speech_duration: float = Field(description="Seconds the voice-activity filter kept.")
    model: str
    segments: list[Segment]
    dropped: list[DroppedSegment] = Field(default_factory=list)
    pieces: int = Field(description="How many pieces the recording was cut into.")
    warnings: list[str] = Field(
        default_factory=list, description="A truncated or damaged file, said in words."
    )
    ms: float = 0.0

    def to_text(self, timestamps: bool = True) -> str:
        if not timestamps:
            return self.text + ("\n" if self.text else "")
        return "".join(
            f"[{_clock(s.start, '.', hours=False)} -> {_clock(s.end, '.', hours=False)}] {s.text}\n"
            for s in self.segments
        )

    def to_srt(self) -> str:
        return "\n".join(
            f"{n}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
            for n, s in enumerate(self.segments, 1)
        )

    def to_vtt(self) -> str:
        cues = "\n".join(
            f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n" for s in self.segments
        )
        return "WEBVTT\n\n" + cues

    def to_openai(self, response_format: str = "json") -> dict[str, Any] | str:
        """The body OpenAI's ``POST /v1/audio/transcriptions`` returns for ``response_format``
        (json, verbose_json, text, srt, vtt), for a server handler to send as is."""
        if response_format == "json":
            return {"text": self.text}
        if response_format == "verbose_json":
            return {
                "task": "transcribe",
                "language": self.language,
                "duration": self.duration,
                "text": self.text,
                "segments": [
                    {
                        "id": s.id,
                        "start": s.start,
                        "end": s.end,
                        "text": s.text,
                        "avg_logprob": s.avg_logprob,
                        "compression_ratio": s.compression_ratio,
                        "no_speech_prob": s.no_speech_prob,
                    }
                    for s in self.segments
                ],
            }
        if response_format == "text":
            return self.text + "\n"
        if response_format in ("srt", "vtt"):
            return self.render(response_format)
        raise InputError(
            f"unknown response_format {response_format!r}; use json, verbose_json, text, srt or vtt"
        )

    def render(self, fmt: str) -> str:
        """The transcript as text (with timestamps), srt, vtt or json."""
        if fmt == "text":
            return self.to_text()
        if fmt == "srt":
            return self.to_srt()
        if fmt == "vtt":
            return self.to_vtt()
        if fmt == "json":
            return self.model_dump_json(indent=2) + "\n"
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _clock(seconds: float, sep: str, hours: bool = True) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    if not hours:
        return f"{h * 60 + m:02d}:{s:02d}{sep}{ms // 10:02d}"
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def quiet_cut(audio: np.ndarray, search_seconds: float = 10.0, frame_ms: int = 100) -> int:
    """The sample index in the last ``search_seconds`` of ``audio`` where it is quietest."""
    frame = SAMPLE_RATE * frame_ms // 1000
    start = max(0, audio.shape[0] - int(search_seconds * SAMPLE_RATE))
    tail = audio[start:]
    n = tail.shape[0] // frame
    if n < 2:
        return audio.shape[0]
    energy = np.square(tail[: n * frame].reshape(n, frame)).mean(axis=1)
    quietest = int(np.argmin(energy[::-1]))  # the latest of equally quiet frames
    return start + (n - 1 - quietest) * frame + frame // 2


_libc: Any = None


def release_memory() -> None:
    """Give freed heap memory back to the OS (glibc's malloc_trim; a no-op elsewhere).

    The voice-activity model allocates large temporary arrays per piece; without a trim the
    heap keeps them and the resident size creeps up over the first pieces (measured: +31 MB
    over four 60-second pieces, +5 MB with the trim).
    """
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


class SpeechMap:
    """Times in the speech-only audio (pauses cut out) back to times in the piece.

    A segment start on the seam between two stretches of speech belongs to the later one and a
    segment end to the earlier one, so no segment spans a pause it did not speak in.
    """

    def __init__(self, speech: list[dict[str, int]]) -> None:
        self.spans: list[tuple[float, float, float]] = []  # (collapsed start, start, end)
        at = 0.0
        for c in speech:
            start, end = c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE
            self.spans.append((at, start, end))
            at += end - start
        self.total = at

    # Whisper's times are coarse (often whole seconds with small models); an edge this close
    # to a seam belongs on the side of the seam the rest of the segment is on. The pauses cut
    # are 2 s or more, so a sentence rarely goes on for less than this across one.
    SLACK = 0.6

    def _index(self, t: float, *, is_end: bool) -> int:
        for i, (collapsed, start, end) in enumerate(self.spans):
            edge = collapsed + end - start
            if (t <= edge) if is_end else (t < edge):
                return i
        return len(self.spans) - 1

    def _at(self, i: int, t: float) -> float:
        collapsed, start, end = self.spans[i]
        return start + min(max(0.0, t - collapsed), end - start)

    def segment(self, start: float, end: float) -> tuple[float, float]:
        """A segment's (start, end) in the speech-only audio -> in the piece."""
        i, j = self._index(start, is_end=False), self._index(end, is_end=True)
        if j > i:
            seam_end = self.spans[j][0]  # collapsed time where span j begins
            if end - seam_end <= self.SLACK:  # the end barely crosses into span j
                j = self._index(seam_end, is_end=True)
                end = seam_end
            seam_start = self.spans[i + 1][0]
            if j > i and seam_start - start <= self.SLACK:  # the start barely precedes a seam
                i = i + 1
                start = seam_start
        return self._at(i, start), max(self._at(i, start), self._at(j, end))


def pieces(
    reader: AudioReader, piece_seconds: float, search_seconds: float = 10.0
) -> Iterator[tuple[float, np.ndarray]]:
    """(offset seconds, samples) pieces of about ``piece_seconds``, cut in pauses."""
    size = int(piece_seconds * SAMPLE_RATE)
    buf = np.zeros(0, dtype=np.float32)
    offset = 0
    for block in reader.blocks(seconds=min(piece_seconds, 30.0)):
        buf = np.concatenate([buf, block]) if buf.size else block
        while buf.shape[0] >= size:
            cut = quiet_cut(buf[:size], min(search_seconds, piece_seconds / 3))
            yield offset / SAMPLE_RATE, buf[:cut]
            offset += cut
            buf = buf[cut:]
    if buf.size:
        yield offset / SAMPLE_RATE, buf


class TranscriptStream:
    """Segments as they are decoded; ``language``, ``dropped``, ... fill in as it runs.

    Iterate it for the kept segments, or call ``result()`` for the whole ``Transcript``.
    """

    def __init__(self, transcriber: Transcriber, source: AudioSource, progress: Progress | None):
        self._t = transcriber
        self.reader = AudioReader(source)  # opening checks the file before any model loads
        self.progress = progress
        self.duration = 0.0
        self.total: float | None = self.reader.info.duration
        self.speech_duration = 0.0
        self.language: str | None = transcriber.language
        self.language_probability: float | None = None
        self.model_name = ""
        self.segments: list[Segment] = []
        self.dropped: list[DroppedSegment] = []
        self.pieces = 0
        self._t0 = time.perf_counter()
        self._iter = self._run()
        self.finished = False

    def __iter__(self) -> Iterator[Segment]:
        return self

    def __next__(self) -> Segment:
        return next(self._iter)

    def _report(self, done: float) -> None:
        if self.progress is not None:
            self.progress(min(done, self.total or done), self.total)

    def _run(self) -> Iterator[Segment]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        t = self._t
        vad = VadOptions(**t.vad_parameters)
        model: SpeechModel | None = None
        previous: str | None = None
        try:
            for offset, audio in pieces(self.reader, t.piece_seconds):
                self.pieces += 1
                self.duration = offset + audio.shape[0] / SAMPLE_RATE
                speech = get_speech_timestamps(audio, vad)
                release_memory()
                if not speech:
                    self._report(self.duration)
                    continue
                # the pauses are cut here rather than by faster-whisper's vad_filter, so the
                # times can be mapped back without a segment straddling a pause (SpeechMap)
                spoken = np.concatenate([audio[c["start"] : c["end"]] for c in speech])
                times = SpeechMap(speech)
                self.speech_duration += times.total
                if model is None:
                    model = self._choose(spoken)
                    self.model_name = model.name
                whisper = load(model, t.threads)
                segments, info = whisper.transcribe(
                    spoken,
                    language=self.language,
                    beam_size=t.beam_size,
                    vad_filter=False,
                    no_speech_threshold=t.no_speech_threshold,
                    compression_ratio_threshold=t.compression_ratio_threshold,
                    initial_prompt=previous,
                    condition_on_previous_text=True,
                )
                if self.language is None:
                    self.language = info.language
                    self.language_probability = round(float(info.language_probability), 4)
                for seg in segments:
                    local = times.segment(seg.start, seg.end)
                    start, end = round(offset + local[0], 2), round(offset + local[1], 2)
                    text = seg.text.strip()
                    # a decoding loop repeats a segment back to back; the same sentence
                    # said again after a pause is speech
                    adjacent = (
                        bool(self.segments) and start - self.segments[-1].end < guard.LOOP_GAP
                    )
                    verdict = guard.check(
                        text,
                        no_speech_prob=seg.no_speech_prob,
                        avg_logprob=seg.avg_logprob,
                        previous=previous if adjacent else None,
                        no_speech_threshold=t.no_speech_threshold,
                        compression_ratio_threshold=t.compression_ratio_threshold,
                    )
                    if verdict is not None:
                        self.dropped.append(
                            DroppedSegment(
                                start=start,
                                end=end,
                                text=text,
                                reason=verdict.reason,
                                detail=verdict.detail,
                            )
                        )
                        continue
                    kept = Segment(
                        id=len(self.segments),
                        start=start,
                        end=end,
                        text=text,
                        avg_logprob=round(float(seg.avg_logprob), 4),
                        no_speech_prob=round(float(seg.no_speech_prob), 4),
                        compression_ratio=round(float(seg.compression_ratio), 3),
                    )
                    self.segments.append(kept)
                    previous = text
                    self._report(end)
                    yield kept
                self._report(self.duration)
                release_memory()
        finally:
            self.reader.close()
        self.finished = True

    def _choose(self, audio: np.ndarray) -> SpeechModel:
        """The model for this recording (and the language, when it must be detected first)."""
        t = self._t
        if t.model is not None:
            chosen = resolve(t.model)
            if chosen.english_only:
                self.language = "en"
            return chosen
        have = installed()
        if self.language == "en" and have["tiny.en"]:
            return resolve("tiny.en")
        if self.language is not None or not have["tiny.en"]:
            return resolve("base")
        if not have["base"]:  # only the English model: English is assumed, not detected
            self.language = "en"
            return resolve("tiny.en")
        base = resolve("base")
        language, probability, _ = load(base, t.threads).detect_language(audio=audio)
        self.language, self.language_probability = language, round(float(probability), 4)
        return resolve("tiny.en") if language == "en" else base

    def warnings(self) -> list[str]:
        out = []
        stated = self.reader.info.duration
        if stated is not None and self.duration < stated - 1.0:
            out.append(
                f"decoded {self.duration:.1f} s of the {stated:.1f} s the file's header states: "
                "the file looks truncated"
            )
        if self.reader.bad_frames:
            out.append(f"{self.reader.bad_frames} damaged packet(s) could not be decoded")
        return out

    def result(self) -> Transcript:
        """Run to the end (if not already) and return the whole transcript."""
        for _ in self:
            pass
        return Transcript(
            text=" ".join(s.text for s in self.segments),
            language=self.language if self.segments else None,
            language_probability=self.language_probability if self.segments else None,
            duration=round(self.duration, 3),
            speech_duration=round(self.speech_duration, 3),
            model=self.model_name or "(none: no speech)",
            segments=self.segments,
            dropped=self.dropped,
            pieces=self.pieces,
            warnings=self.warnings(),
            ms=round((time.perf_counter() - self._t0) * 1000, 2),
        )


class Transcriber:
    """Settings for turning recordings into text; reuse it for many files."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        language: str | None = None,
        threads: int | None = None,
        beam_size: int = 5,
        piece_seconds: float = 60.0,
        no_speech_threshold: float = guard.NO_SPEECH_THRESHOLD,
        compression_ratio_threshold: float = guard.COMPRESSION_RATIO_THRESHOLD,
        vad_parameters: dict[str, Any] | None = None,
    ) -> None:
        if language is not None:
            language = language.strip().lower()
            if not (2 <= len(language) <= 3 and language.isalpha()):
                raise InputError(f"language must be a code such as en or es, got {language!r}")
            fw = require_faster_whisper()
            codes = getattr(fw.tokenizer, "_LANGUAGE_CODES", None)
            if codes is not None and language not in codes:
                raise InputError(f"Whisper does not know the language code {language!r}")
        if piece_seconds < 10:
            raise InputError("piece_seconds must be at least 10")
        if beam_size < 1:
            raise InputError("beam_size must be 1 or more")
        self.model = str(model) if model is not None else None
        if self.model is not None:
            # unknown names, bad folders and impossible pairs fail before any audio is read
            chosen = resolve(self.model)
            if chosen.english_only and language not in (None, "en"):
                raise InputError(
                    f"{chosen.name} is an English-only model and cannot transcribe "
                    f"{language!r}; use --model base"
                )
        self.language = language
        self.threads = threads
        self.beam_size = beam_size
        self.piece_seconds = piece_seconds
        self.no_speech_threshold = no_speech_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self.vad_parameters = vad_parameters or {}

    def stream(self, audio: AudioSource, *, progress: Progress | None = None) -> TranscriptStream:
        """Kept segments one by one, as the recording is decoded (constant memory)."""
        return TranscriptStream(self, audio, progress)

    def transcribe(self, audio: AudioSource, *, progress: Progress | None = None) -> Transcript:
        """The whole transcript of ``audio`` (a path, bytes or a binary file object)."""
        return self.stream(audio, progress=progress).result()


def transcribe(
    audio: AudioSource,
    *,
    language: str | None = None,
    model: str | Path | None = None,
    threads: int | None = None,
    beam_size: int = 5,
    progress: Progress | None = None,
) -> Transcript:
    """Transcribe a recording on the device: a path, bytes, or a binary file object.

    ``model``: ``tiny.en``, ``base`` or a CTranslate2 Whisper folder (default: tiny.en for
    English, base otherwise, chosen after detecting the language when it is not given).
    """
    return Transcriber(model, language=language, threads=threads, beam_size=beam_size).transcribe(
        audio, progress=progress
    )
