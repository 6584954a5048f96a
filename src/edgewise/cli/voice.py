"""``edgewise transcribe`` and ``edgewise voice-note``: shells over edgewise.audio."""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import click

from edgewise.cli import common
from edgewise.cli.common import model_option, status
from edgewise.cli.io import ProgressLine, bar
from edgewise.errors import InputError
from edgewise.store import atomic_write_text

SPEECH_MODEL_HELP = (
    "Speech model: tiny.en, base, or a CTranslate2 Whisper folder "
    "(default: tiny.en for English, base for other languages)."
)


class AudioProgress(ProgressLine):
    """``[####----] 1:20/10:00 audio, 9.1x real time, ETA 40s`` on stderr; only on a terminal."""

    def __init__(self, label: str) -> None:
        super().__init__(label, min_items=0)

    def __call__(self, done: float, total: float | None) -> None:  # type: ignore[override]
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        speed = done / elapsed if elapsed > 0 else 0.0
        if total:
            shown = f"{bar(done / total)} {_clock(done)}/{_clock(total)}"
            eta = f", ETA {(total - done) / speed:.0f}s" if speed > 0 else ""
        else:
            shown, eta = _clock(done), ""
        self.draw(f"{shown} audio, {speed:.1f}x real time{eta}")


class _Stages:
    """One progress line per stage of a voice note, each started when its stage starts."""

    def __init__(self, audio: AudioProgress) -> None:
        self.bars: list[Any] = [audio]
        self.names: list[str] = ["transcribe"]

    def _bar(self, name: str) -> Any:
        from edgewise.cli.io import ProgressLine

        if self.names[-1] != name:
            self.bars[-1].close()
            self.bars.append(ProgressLine(name, min_items=2))
            self.names.append(name)
        return self.bars[-1]

    def summary(self, done: int, total: int) -> None:
        self._bar("summarize")(done, total)

    def items(self, done: int, total: int) -> None:
        self._bar("action items")(done, total)

    def close(self) -> None:
        for line in self.bars:
            line.close()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _source(audio: str) -> Any:
    if audio != "-":
        return audio
    data = sys.stdin.buffer.read()
    if not data:
        raise InputError("standard input is empty: no audio")
    return data


def _write(output: str | None, text: str) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(Path(output), text)


def _summary_line(transcript: Any) -> str:
    lang = transcript.language or "none (no speech)"
    if transcript.language_probability is not None:
        lang += f" ({transcript.language_probability:.2f})"
    dropped = f", {len(transcript.dropped)} dropped" if transcript.dropped else ""
    return (
        f"language {lang}, model {transcript.model}, {len(transcript.segments)} segments"
        f"{dropped}, {transcript.duration:.1f}s audio in {transcript.ms / 1000:.1f}s"
    )


@click.command()
@click.argument("audio")
@click.option(
    "--language", "-l", default=None, help="Language code (en, es, ...); default: detect."
)
@click.option(
    "--model", "-m", "speech_model", default=None, metavar="MODEL", help=SPEECH_MODEL_HELP
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "srt", "vtt", "json"]),
    default="text",
    show_default=True,
    help="text: one segment per line with its times; json: segments, language, dropped ones.",
)
@click.option("--output", "-o", default=None, metavar="FILE", help="Write here (atomically).")
@click.option("--beam-size", type=click.IntRange(1, 10), default=5, show_default=True)
def transcribe(
    audio: str,
    language: str | None,
    speech_model: str | None,
    fmt: str,
    output: str | None,
    beam_size: int,
) -> None:
    """Transcribe AUDIO (wav, mp3, m4a, ogg, flac; '-' for stdin) on the device."""
    from edgewise.audio.transcribe import Transcriber

    transcriber = Transcriber(speech_model, language=language, beam_size=beam_size)
    progress = AudioProgress("transcribe")
    stream = transcriber.stream(_source(audio), progress=progress)
    try:
        if fmt == "text" and output is None:  # print segments as they are decoded
            for seg in stream:
                progress.close()
                click.echo(f"[{_mmss(seg.start)} -> {_mmss(seg.end)}] {seg.text}")
            transcript = stream.result()
        else:
            transcript = stream.result()
            progress.close()
            _write(output, transcript.render(fmt))
    finally:
        progress.close()
    for warning in transcript.warnings:
        status(f"warning: {warning}")
    status(_summary_line(transcript))


def _mmss(seconds: float) -> str:
    from edgewise.audio.transcribe import _clock as clock

    return clock(seconds, ".", hours=False)


@click.command("voice-note")
@click.argument("audio")
@click.option(
    "--language", "-l", default=None, help="Language code (en, es, ...); default: detect."
)
@click.option("--speech-model", default=None, metavar="MODEL", help=SPEECH_MODEL_HELP)
@model_option
@click.option(
    "--date",
    "ref_date",
    default=None,
    metavar="YYYY-MM-DD",
    help="Resolve 'tomorrow', 'by Friday', ... against this date (default: the file's date).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of Markdown.")
@click.option("--output", "-o", default=None, metavar="FILE", help="Write here (atomically).")
def voice_note(
    audio: str,
    language: str | None,
    speech_model: str | None,
    model: str | None,
    ref_date: str | None,
    as_json: bool,
    output: str | None,
) -> None:
    """Transcribe AUDIO, summarize it and list its action items, all on the device."""
    from edgewise.audio.transcribe import Transcriber
    from edgewise.audio.voice_note import voice_note as make_note

    reference = None
    if ref_date is not None:
        try:
            reference = date.fromisoformat(ref_date)
        except ValueError:
            raise InputError(f"--date must be YYYY-MM-DD, got {ref_date!r}") from None
    Transcriber(speech_model, language=language)  # bad options fail before a model loads
    engine = None
    if model is not None:
        engine = common.load_engine(model)
    progress = AudioProgress("transcribe")
    stages = _Stages(progress)
    try:
        note = make_note(
            _source(audio),
            language=language,
            speech_model=speech_model,
            engine=engine,
            reference_date=reference,
            progress=progress,
            summary_progress=stages.summary,
            items_progress=stages.items,
        )
    finally:
        stages.close()
    if as_json:
        _write(output, note.model_dump_json(indent=2) + "\n")
    else:
        _write(output, note.to_markdown())
    for warning in note.transcript.warnings:
        status(f"warning: {warning}")
    status(_summary_line(note.transcript) + f", {len(note.action_items)} action item(s)")
