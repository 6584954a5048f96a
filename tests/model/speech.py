"""Recorded speech for the audio tests, so a test run needs no text-to-speech engine.

The tests keep their scripts as text (they transcribe the audio and compare with the text);
``tests/data/speech/make.py`` renders every ``Script`` the test modules define with espeak-ng,
once, into ``tests/data/speech/``, where the WAV files are committed. A file is named by a slug
of its text and a hash of (voice, speed, text): a script edited without rendering it again
finds no file and fails with the command to run, instead of testing stale audio.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

SPEECH_DIR = Path(__file__).resolve().parents[1] / "data" / "speech"


@dataclass(frozen=True)
class Script:
    """A text spoken by one espeak-ng voice at one speed (words per minute)."""

    text: str
    voice: str
    speed: int = 150

    @property
    def filename(self) -> str:
        """``<voice>-<first words>-<hash>.wav``: readable, and new whenever the inputs change."""
        ascii_text = unicodedata.normalize("NFKD", self.text).encode("ascii", "ignore").decode()
        words = re.findall(r"[a-z0-9]+", ascii_text.lower())[:4]
        key = f"{self.voice}\n{self.speed}\n{self.text}".encode()
        digest = hashlib.sha256(key).hexdigest()[:10]
        return "-".join([self.voice, *words, digest]) + ".wav"

    @property
    def path(self) -> Path:
        return SPEECH_DIR / self.filename

    def render(self, path: Path) -> None:
        """Speak the text into ``path`` with espeak-ng (used by make.py, never by a test)."""
        cmd = ["espeak-ng", "-v", self.voice, "-s", str(self.speed), "-w", str(path), self.text]
        subprocess.run(cmd, check=True)


def recorded(script: Script) -> Path:
    """The committed WAV for ``script``; a missing one fails the test with what to run."""
    if not script.path.is_file():
        text = script.text if len(script.text) <= 60 else script.text[:57] + "..."
        pytest.fail(
            f"no recorded speech for {script.voice!r} at {script.speed} wpm: {text!r} "
            f"(expected tests/data/speech/{script.filename}); "
            "the script changed or is new: run `python tests/data/speech/make.py` "
            "(needs espeak-ng: apt-get install espeak-ng) and commit the WAV",
            pytrace=False,
        )
    return script.path
