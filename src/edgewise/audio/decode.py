"""Decode audio files in blocks (PyAV, the FFmpeg bindings faster-whisper already depends on).

faster-whisper's own ``decode_audio`` reads the whole file into one array (and its
``transcribe`` then computes features for all of it), so memory grows with the recording. Here
the file is demuxed and resampled to 16 kHz mono float32 a block at a time; only the block in
hand is in memory.

Sources: a path, bytes, or a binary file-like object (an upload in a server handler).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgewise.errors import InputError

SAMPLE_RATE = 16000
AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


@dataclass
class AudioInfo:
    """What the container says about the audio before decoding."""

    name: str
    duration: float | None  # seconds; None when the container does not say
    codec: str
    sample_rate: int
    channels: int


def _name(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return getattr(source, "name", None) or "audio"


def _open_arg(source: AudioSource) -> Any:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise InputError("the audio is empty (0 bytes)")
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not an audio file")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}") from None
        if size == 0:
            raise InputError(f"{path}: empty file (0 bytes)")
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: permission denied")
        return str(path)
    if hasattr(source, "read"):
        return source
    raise InputError(f"cannot read audio from a {type(source).__name__}")


def _av() -> Any:
    from edgewise.audio.models import require_faster_whisper

    require_faster_whisper()  # PyAV comes with faster-whisper; one install hint for both
    import av

    return av


class AudioReader:
    """An open audio file; ``blocks()`` yields 16 kHz mono float32 arrays of about ``seconds``."""

    def __init__(self, source: AudioSource) -> None:
        av = self._av = _av()
        self.name = _name(source)
        arg = _open_arg(source)
        try:
            self._container = av.open(arg, mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{self.name}: cannot read it as audio ({_reason(exc)}): not an audio file, or a "
                "truncated or damaged one; use wav, mp3, m4a, ogg or flac"
            ) from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.name}: cannot open ({exc})") from None
        if not self._container.streams.audio:
            self._container.close()
            raise InputError(f"{self.name}: no audio stream in this file")
        stream = self._stream = self._container.streams.audio[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        ctx = stream.codec_context
        self.info = AudioInfo(
            name=self.name,
            duration=duration if duration and duration > 0 else None,
            codec=ctx.name or "?",
            sample_rate=ctx.sample_rate or 0,
            channels=ctx.channels or 0,
        )
        self.bad_frames = 0  # undecodable packets skipped (a damaged file)

    def blocks(self, seconds: float = 30.0) -> Iterator[np.ndarray]:
        """Decoded audio in blocks of ``seconds`` (the last one shorter); nothing kept between."""
        av = self._av
        want = int(seconds * SAMPLE_RATE)
        resampler = av.audio.resampler.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[np.ndarray] = []
        have = 0
        decoded_any = False
        try:
            for frame in self._frames():
                decoded_any = True
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                    have += pending[-1].shape[0]
                while have >= want:
                    block = np.concatenate(pending)
                    yield block[:want]
                    rest = block[want:]
                    pending, have = ([rest] if rest.size else []), rest.shape[0]
            for out in resampler.resample(None):  # flush
                pending.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
            if pending:
                block = np.concatenate(pending)
                if block.size:
                    yield block
        except av.error.FFmpegError as exc:
            if not decoded_any:
                raise InputError(f"{self.name}: cannot decode the audio ({_reason(exc)})") from None
            # a truncated or damaged tail: keep what decoded, say so in the log
            self.bad_frames += 1
            if pending:
                yield np.concatenate(pending)

    def _frames(self) -> Iterator[Any]:
        av = self._av
        for packet in self._container.demux(self._stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                self.bad_frames += 1
                continue
            yield from frames

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__


def decode(source: AudioSource) -> np.ndarray:
    """The whole file as one 16 kHz mono float32 array (short clips; long ones: AudioReader)."""
    with AudioReader(source) as reader:
        blocks = list(reader.blocks())
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
