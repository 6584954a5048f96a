"""The audio routes on recorded speech: transcriptions, the voice note, bad uploads."""

from __future__ import annotations

import httpx
import openai
import pytest

from ..speech import Script, recorded

SPOKEN = (
    "Hi team, a quick note after the planning meeting. "
    "Maria will send the budget report to the finance team by Friday."
)
SPOKEN_SPEECH = Script(SPOKEN, "en-us")  # rendered by tests/data/speech/make.py


@pytest.fixture(scope="session")
def spoken_wav() -> bytes:
    """One short espeak-ng clip for the audio routes, recorded once and committed."""
    return recorded(SPOKEN_SPEECH).read_bytes()


def test_audio_transcriptions_with_the_openai_client(oai, spoken_wav):
    from edgewise.audio.metrics import word_error_rate

    def create(fmt):
        return oai.audio.transcriptions.create(
            model="whisper-1", file=("note.wav", spoken_wav), language="en", response_format=fmt
        )

    # the first request transcribes; the others are the same words in other shapes
    verbose = create("verbose_json")
    assert word_error_rate(SPOKEN, verbose.text) <= 0.15, verbose.text
    assert verbose.language == "en" and 5 < verbose.duration < 12
    assert verbose.segments and verbose.segments[-1].end <= verbose.duration + 0.5
    assert create("json").text == verbose.text
    assert create("text") == verbose.text + "\n"
    srt = create("srt")
    assert srt.startswith("1\n00:00:0") and " --> 00:00:" in srt
    assert "budget report" in srt.lower()


def test_voice_note_endpoint(url, spoken_wav):
    r = httpx.post(
        url + "/v1/voice-note",
        files={"file": ("note.wav", spoken_wav, "audio/wav")},
        data={"language": "en", "reference_date": "2026-11-28"},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    note = r.json()
    assert note["name"] == "note.wav" and note["reference_date"] == "2026-11-28"
    assert "budget report" in note["transcript"]["text"].lower()
    assert note["transcript"]["model"] == "tiny.en"
    items = [i for i in note["action_items"] if "budget report" in i["what"].lower()]
    assert items, note["action_items"]
    assert items[0]["who"] == "Maria" and items[0]["when"] == "2026-12-04"  # Friday after
    assert isinstance(note["summary"], list)
    schema = httpx.get(url + "/openapi.json").json()["components"]["schemas"]
    assert {"VoiceNote", "Transcript", "ActionItem"} <= set(schema)


def test_a_non_audio_upload_gets_400_and_the_server_goes_on(oai, url, spoken_wav):
    with pytest.raises(openai.BadRequestError) as err:
        oai.audio.transcriptions.create(model="whisper-1", file=("notes.txt", b"just some text"))
    assert "not an audio file" in err.value.body["message"]
    r = httpx.post(
        url + "/v1/audio/transcriptions",
        files={"file": ("cut.wav", spoken_wav[:44], "audio/wav")},  # header, no samples
        data={"model": "tiny.en"},
    )
    assert r.status_code == 400 and "no audio samples" in r.json()["error"]["message"]
