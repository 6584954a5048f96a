"""Voice notes on real speech: espeak-ng spoke known scripts (rendered once by
tests/data/speech/make.py and committed), the bundled Whisper models transcribe them, the bundled
SmolLM2-135M summarizes and finds the action items.

The speech models load once per process (edgewise.audio.models caches them), and the two
voice notes are made once per session and shared by the tests that check them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import wave
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgewise
from edgewise.audio.decode import decode
from edgewise.audio.metrics import word_error_rate
from edgewise.audio.models import BASE_SHA256, base_path
from edgewise.cli.main import cli

from ..speech import Script, recorded

EN_SCRIPT = (
    "Hi team, this is a quick note after the planning meeting. "
    "Maria will send the budget report to the finance team by Friday. "
    "John needs to book a meeting room for the product review. "
    "Please remember to update the customer list before the end of the month."
)
ES_SCRIPT = (
    "Hola equipo, esta es una nota rápida después de la reunión. "
    "Carlos tiene que enviar el informe de ventas el lunes. "
    "Miguel debe llamar al cliente mañana. "
    "No olvides revisar el presupuesto antes del viernes."
)
SHORT = "Maria will send the budget report to the finance team by Friday."
SPEECH = {  # the clips' file names matter: the voice note's heading names the file
    "en.wav": Script(EN_SCRIPT, "en-us"),
    "es.wav": Script(ES_SCRIPT, "es"),
    "short.wav": Script(SHORT, "en-us"),
}
RECORDED = date(2026, 11, 28)  # a Saturday: Friday is 2026-12-04, Monday 2026-11-30
ROOT = Path(__file__).resolve().parents[3]


def speak(name: str, folder: Path) -> Path:
    """A copy of the recorded clip under its test name, in a folder the tests may write to."""
    return Path(shutil.copyfile(recorded(SPEECH[name]), folder / name))


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def encode(samples: np.ndarray, path: Path, fmt: str, codec: str, rate: int) -> Path:
    """Encode 16 kHz mono samples with PyAV (mp3, ogg/opus, flac, m4a/aac)."""
    import av

    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").reshape(1, -1)
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def speech_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One EDGEWISE_HOME for the voice tests, so base is reassembled once, not per test."""
    return tmp_path_factory.mktemp("speech-home")


@pytest.fixture(autouse=True)
def _speech_home(_isolated_home: Path, speech_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWISE_HOME", str(speech_home))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("voice")
    return {
        "en": speak("en.wav", d),
        "es": speak("es.wav", d),
        "short": speak("short.wav", d),
        "dir": d,
    }


def _note(path: Path, engine, home: Path) -> edgewise.VoiceNote:
    with pytest.MonkeyPatch.context() as mp:  # session fixtures run outside a test's monkeypatch
        mp.setenv("EDGEWISE_HOME", str(home))
        return edgewise.voice_note(path, engine=engine, reference_date=RECORDED)


@pytest.fixture(scope="session")
def en_note(clips: dict[str, Path], engine, speech_home: Path) -> edgewise.VoiceNote:
    return _note(clips["en"], engine, speech_home)


@pytest.fixture(scope="session")
def es_note(clips: dict[str, Path], engine, speech_home: Path) -> edgewise.VoiceNote:
    return _note(clips["es"], engine, speech_home)


def _find(items: list[edgewise.ActionItem], *words: str) -> edgewise.ActionItem:
    for item in items:
        if all(w.lower() in item.what.lower() for w in words):
            return item
    raise AssertionError(f"no action item with {words}: {[i.what for i in items]}")


# ------------------------------------------------------------------ transcripts
def test_english_note_is_transcribed_with_tiny_en(en_note, record_property) -> None:
    t = en_note.transcript
    wer = word_error_rate(EN_SCRIPT, t.text)
    record_property("wer_en_tiny", wer)
    print(f"English WER (tiny.en, espeak-ng en-us): {wer:.3f}")
    assert wer <= 0.25, t.text
    # no language given: base detected it, then the English model transcribed
    assert (t.language, t.model) == ("en", "tiny.en")
    assert t.language_probability is not None and t.language_probability >= 0.5
    assert t.dropped == []
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts) and t.segments[-1].end <= t.duration + 0.1
    assert all(s.end >= s.start for s in t.segments)


def test_spanish_note_is_transcribed_with_base(es_note, record_property) -> None:
    t = es_note.transcript
    wer = word_error_rate(ES_SCRIPT, t.text)
    record_property("wer_es_base", wer)
    print(f"Spanish WER (base, espeak-ng es): {wer:.3f}")
    assert wer <= 0.35, t.text
    assert (t.language, t.model) == ("es", "base")
    assert t.language_probability is not None and t.language_probability >= 0.5


# ------------------------------------------------------------------ voice notes
def test_english_action_items(en_note) -> None:
    items = en_note.action_items
    maria = _find(items, "budget report")
    assert (maria.who, maria.when) == ("Maria", "2026-12-04")
    assert maria.what.lower().startswith("send")
    john = _find(items, "meeting room")
    assert john.who == "John" and john.what.lower().startswith("book")
    update = _find(items, "customer list")
    assert update.who is None and update.what.lower().startswith("update")
    assert len(items) == 3, items  # "this is a quick note" is no task
    for item in items:
        assert item.start is not None and 0 <= item.start <= en_note.transcript.duration


def test_spanish_action_items(es_note) -> None:
    items = es_note.action_items
    carlos = _find(items, "informe")
    assert (carlos.who, carlos.when) == ("Carlos", "2026-11-30")
    assert carlos.what.lower().startswith("enviar")
    miguel = _find(items, "llamar")
    assert (miguel.who, miguel.when) == ("Miguel", "2026-11-29")
    budget = _find(items, "presupuesto")
    assert budget.what.lower().startswith("revisar") and budget.when == "2026-12-04"


def test_summary_and_markdown(en_note) -> None:
    assert 1 <= len(en_note.summary) <= 3
    said = set(en_note.transcript.text.lower().split())
    for point in en_note.summary:
        assert point.strip() and any(w in said for w in point.lower().split())
    md = en_note.to_markdown()
    for heading in ("# Voice note: en.wav", "## Summary", "## Action items", "## Transcript"):
        assert heading in md
    assert "- [ ] **Maria**: send" in md and "(due 2026-12-04)" in md
    data = json.loads(en_note.model_dump_json())
    assert data["transcript"]["language"] == "en" and len(data["action_items"]) == 3


# ------------------------------------------------------------------ inputs
def test_silence_gives_no_text_and_needs_no_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = write_wav(tmp_path / "silence.wav", rng.normal(0, 1e-4, 16000 * 8))
    t = edgewise.transcribe(path)
    assert (t.text, t.segments, t.language, t.speech_duration) == ("", [], None, 0.0)
    assert t.duration == pytest.approx(8.0, abs=0.01)
    note = edgewise.voice_note(path, reference_date=RECORDED)  # no LLM call on no text
    assert note.summary == [] and note.action_items == []
    assert "(nothing was said)" in note.to_markdown()


@pytest.mark.parametrize(
    "name, fmt, codec, rate",
    [
        ("short.mp3", "mp3", "libmp3lame", 16000),
        ("short.ogg", "ogg", "libopus", 48000),
        ("short.flac", "flac", "flac", 16000),
        ("short.m4a", "ipod", "aac", 16000),
    ],
)
def test_compressed_formats(clips, name: str, fmt: str, codec: str, rate: int) -> None:
    path = encode(decode(clips["short"]), clips["dir"] / name, fmt, codec, rate)
    t = edgewise.transcribe(path, language="en")
    assert word_error_rate(SHORT, t.text) <= 0.25, t.text


def test_truncated_file_gives_the_part_that_is_there(clips) -> None:
    full = encode(decode(clips["en"]), clips["dir"] / "en.mp3", "mp3", "libmp3lame", 16000)
    data = full.read_bytes()
    cut = clips["dir"] / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2 + 77])  # mid-frame
    t = edgewise.transcribe(cut, language="en")
    assert "planning meeting" in t.text.lower()
    assert "customer list" not in t.text.lower()
    assert t.duration < 10
    assert any("truncated" in w for w in t.warnings), t.warnings  # the header says 16 s


def test_bytes_and_file_objects_for_a_server_handler(clips) -> None:
    import io

    data = clips["short"].read_bytes()
    by_path = edgewise.transcribe(clips["short"], language="en").text
    assert edgewise.transcribe(data, language="en").text == by_path
    assert edgewise.transcribe(io.BytesIO(data), language="en").text == by_path


# ------------------------------------------------------------------ CLI
def test_cli_transcribe_formats(clips) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["transcribe", str(clips["short"]), "-l", "en", "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["language"] == "en" and data["segments"] and data["dropped"] == []
    result = runner.invoke(cli, ["transcribe", str(clips["short"]), "-m", "tiny.en", "-f", "srt"])
    assert result.exit_code == 0 and result.stdout.startswith("1\n00:00:0")
    result = runner.invoke(cli, ["transcribe", str(clips["short"]), "-l", "en", "-f", "vtt"])
    assert result.stdout.startswith("WEBVTT\n\n00:00:0")


def test_cli_voice_note(clips, tmp_path: Path, engine, monkeypatch) -> None:
    import edgewise.tasks

    monkeypatch.setattr(edgewise.tasks, "_default", engine)  # the session's SmolLM2, not a 2nd
    out = tmp_path / "note.json"
    result = CliRunner().invoke(
        cli,
        [
            "voice-note",
            str(clips["short"]),
            "-l",
            "en",
            "--date",
            "2026-11-28",
            "--json",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    note = json.loads(out.read_text())
    assert note["reference_date"] == "2026-11-28"
    [item] = note["action_items"]
    assert (item["who"], item["when"]) == ("Maria", "2026-12-04")


# ------------------------------------------------------------------ models and memory
def test_base_is_reassembled_once_and_verified(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EDGEWISE_HOME", str(tmp_path / "home"))
    folder = base_path()
    digest = hashlib.sha256((folder / "model.bin").read_bytes()).hexdigest()
    assert digest == BASE_SHA256["1.0.0"]
    assert (folder / "model.bin.verified").read_text().split()[0] == digest
    assert sorted(p.name for p in folder.parent.iterdir()) == ["whisper-base"]  # no temp left
    stamp = (folder / "model.bin.verified").stat().st_mtime_ns
    assert base_path() == folder and (folder / "model.bin.verified").stat().st_mtime_ns == stamp
    (folder / "model.bin").write_bytes(b"broken")  # a damaged copy is rebuilt
    assert hashlib.sha256((base_path() / "model.bin").read_bytes()).hexdigest() == digest


PEAK = textwrap.dedent(
    """
    import sys
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "edgewise":
        import edgewise
        t = edgewise.transcribe(path, language="en")
        assert "budget report" in t.text.lower() and t.segments[-1].start > t.duration - 10, t
    else:  # the naive way: faster-whisper's own decode_audio reads the whole file
        from faster_whisper import decode_audio
        decode_audio(path)
    # VmHWM, not ru_maxrss: after fork+exec, ru_maxrss still counts the (big) pytest parent
    status = open("/proc/self/status").read()
    print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
    """
)


def test_memory_does_not_grow_with_length(clips, tmp_path: Path, speech_home: Path) -> None:
    """Peak RSS (VmHWM) for 1 and 10 minutes of audio (speech at both ends, pauses between),
    each in a fresh process; faster-whisper's whole-file decode beside it shows what growth
    looks like (10 min of 16 kHz audio is 38 MB as float32, plus the int16 copy)."""
    speech = decode(clips["short"])
    files = {}
    for minutes in (1, 10):
        gap = np.zeros(minutes * 60 * 16000 - 2 * speech.shape[0], dtype=np.float32)
        files[minutes] = write_wav(
            tmp_path / f"{minutes}min.wav", np.concatenate([speech, gap, speech])
        )
    env = {**os.environ, "EDGEWISE_HOME": str(speech_home), "PYTHONPATH": str(ROOT / "src")}

    def peak(mode: str, path: Path) -> int:
        out = subprocess.run(
            [sys.executable, "-c", PEAK, mode, str(path)], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.split()[-1])

    ours = {m: peak("edgewise", f) for m, f in files.items()}
    naive = {m: peak("naive", f) for m, f in files.items()}
    print(f"peak RSS MB, 1 vs 10 min: edgewise {ours}, faster-whisper decode_audio {naive}")
    assert naive[10] - naive[1] > 40  # the whole-file way grows by the decoded audio
    assert ours[10] - ours[1] < 20
