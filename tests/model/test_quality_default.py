"""Answer quality on the default model (Qwen2.5-Coder-1.5B from the test extra).

The figures behind these bars are in benchmarks/quality.py and docs/quality.md; the bars sit one
item below the measured results, which move by one item with the calibration draw."""

from __future__ import annotations

import json
import mailbox
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgewise
from edgewise.audio.actions import sentence_items
from edgewise.bundled import default_model
from edgewise.cli.main import cli

INBOX = Path(__file__).resolve().parents[2] / "examples" / "inbox.mbox"
MONDAY = date(2026, 12, 7)


def test_the_default_model_is_the_installed_1_5b(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEWISE_MODEL")
    name, why = default_model()
    assert name == "qwen2.5-coder-1.5b" and "strongest" in why
    out = CliRunner().invoke(cli, ["models", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["name"]: r for r in json.loads(out.output)}
    assert rows["qwen2.5-coder-1.5b"]["default"] is True
    assert not rows["smollm2-135m"]["default"]


def test_inbox_triage_agrees_with_the_expected_labels(qwen15) -> None:
    box = mailbox.mbox(str(INBOX), create=False)
    try:
        expected = {
            m["Message-ID"].strip("<>"): m["X-Expected-Label"] for m in box if m["X-Expected-Label"]
        }
    finally:
        box.close()
    got = {r.id: r for r in edgewise.triage(INBOX, engine=qwen15) if r.error is None}
    assert set(expected) <= set(got)
    agree = sum(got[k].label == v for k, v in expected.items())
    by_subject = {r.subject: r.label for r in got.values()}
    # the two the 135M gets wrong, quoted in the issue that made the 1.5B the default
    assert by_subject["Production database is down"] == "urgent"
    assert by_subject["Please review the Q3 budget draft by Friday"] == "task"
    assert agree >= 23, f"{agree} of {len(expected)}"


NOTES = {
    "en": [
        "Note for Monday.",
        "Email the signed contract to Laura before noon.",
        "Book a table for four people at the Italian restaurant on Friday evening.",
        "Remember to renew the car insurance this week.",
    ],
    "es": [
        "Nota para el lunes.",
        "Envía el contrato firmado a Laura antes del mediodía.",
        "Reserva una mesa para cuatro personas en el restaurante italiano el viernes por la noche.",
        "Recuerda renovar el seguro del coche esta semana.",
    ],
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_action_a_note_states_is_an_item(qwen15, lang: str) -> None:
    sentences = [(s, float(i)) for i, s in enumerate(NOTES[lang])]
    items = sentence_items(sentences, language=lang, reference=MONDAY, engine=qwen15)
    got = [(i.what.lower(), i.who, i.when) for i in items]
    assert len(got) == 3, got
    (mail, mail_who, mail_when), (table, _, table_when), (insurance, _, insurance_when) = got
    assert "contra" in mail and "laura" in mail and mail_who is None  # Laura receives it
    assert mail_when == "2026-12-14"  # the note's heading: Monday
    assert ("four" in table or "cuatro" in table) and table_when == "2026-12-11"
    assert ("insurance" in insurance or "seguro" in insurance) and insurance_when == "2026-12-11"
    assert "before noon" in items[0].when_text or "mediod" in items[0].when_text
