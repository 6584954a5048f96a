"""Slots with a ``pattern`` (phone numbers, codes): only a stated value that matches is
taken, the part of the reply that matches, and only for the asked slot."""

from __future__ import annotations

import pytest

from edgewise import FakeEngine
from edgewise.tasks.converse import Conversation, load_script

from .helpers import EXAMPLE, SCRIPT, conversation


def test_a_patterned_slot_takes_only_a_stated_value_that_matches(engine):
    phone = {"type": "string", "pattern": r"^\+?[0-9][0-9 ()/.-]{4,24}[0-9]$"}
    script = {
        **SCRIPT,
        "slots": {**SCRIPT["slots"], "phone": {"schema": phone, "prompt": "Phone?"}},
    }
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    conv.reply("oven, 2025-03-14, Hauptstraße 5")
    conv.reply("nein")  # notes
    engine.enqueue({"phone": "0170 123456"})  # not in the reply: a guess
    turn = conv.reply("you can reach me on my mobile")
    assert "phone" not in turn.slots and turn.message.endswith("Phone?")  # nor the whole reply
    engine.enqueue({"phone": "0170 999888"})
    turn = conv.reply("my number is 0170 999888")
    assert turn.slots["phone"] == "0170 999888" and turn.state == "confirming"


PHONE = load_script(EXAMPLE).slots["phone"].json_schema  # the example's phone number


def _asking_for(engine: FakeEngine, schema: dict) -> Conversation:
    script = {
        "goal": "call back",
        "slots": {
            "value": {"schema": schema, "prompt": "Which one?"},
            "notes": {"schema": {"type": "string"}, "prompt": "Notes?", "required": False},
        },
        "confirmation": "{value}?",
    }
    conv = conversation(engine, script)
    assert conv.start() == "Which one?"
    return conv


@pytest.mark.parametrize(
    ("reply", "phone"),
    [
        ("+49 170 1234567", "+49 170 1234567"),
        ("0170 1234567", "0170 1234567"),
        ("+1 415 555 0132", "+1 415 555 0132"),
        ("612 345 678", "612 345 678"),
        ("+33 6 12 34 56 78", "+33 6 12 34 56 78"),
        ("  +49 170 1234567.  ", "+49 170 1234567"),
        ("my number is +49 170 1234567, thanks", "+49 170 1234567"),
        ("0170 1234567 ab dem 14.06.2025", "0170 1234567"),  # the date is no phone number
    ],
)
@pytest.mark.parametrize("model", ["1234567890", "123 456 7890", None])
def test_a_patterned_slot_takes_the_part_of_the_reply_that_matches(engine, reply, phone, model):
    # SmolLM2-135M answers "1234567890" for "+49 170 1234567": the digits garbled, not stated
    conv = _asking_for(engine, PHONE)
    engine.enqueue({"value": model, "notes": model})
    turn = conv.reply(reply)
    assert turn.slots == {"value": phone} and turn.updated == ["value"]
    assert turn.asking == "notes"


def test_a_patterned_value_cut_short_takes_the_part_around_it(engine):
    conv = _asking_for(engine, PHONE)
    engine.enqueue({"value": "44 20 7946 0958"})  # the model dropped the +
    assert conv.reply("call me on +44 20 7946 0958 please").slots == {"value": "+44 20 7946 0958"}
    name = {"type": "string", "pattern": "^[a-z ]+$"}
    conv = _asking_for(engine, name)
    engine.enqueue({"value": "bob"})  # the part around it adds words: the model's value
    assert conv.reply("my name is bob").slots == {"value": "bob"}


@pytest.mark.parametrize(
    ("schema", "reply", "expected"),
    [
        # an anchored pattern matches the part as a whole
        (
            {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
            "booking ABX-2231 please",
            "ABX-2231",
        ),
        # an unanchored one says only what a value holds: its match would be a fragment
        ({"type": "string", "pattern": "[0-9]{5}"}, "PLZ 10115 Berlin", None),
        ({"type": "string", "pattern": "@"}, "it is bob@example.com", None),
        ({"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}"}, "IBAN DE44 5001 0517", None),
        ({"type": "string", "pattern": "^[0-9]{5}$"}, "PLZ 101155", None),  # not a part of a word
        ({"type": "string", "pattern": "^[0-9]{5}$", "maxLength": 4}, "10115", None),  # invalid
        (PHONE, "you can reach me on my mobile", None),  # nor the whole reply as it stands
        (PHONE, "0170 1234567 or 0171 7654321", None),  # two numbers: neither
        (PHONE, "2025-06-14", None),  # a date, not a phone number
        ({"type": "string", "pattern": "^[a-z]+$"}, "no", None),  # a keyword is no value
        ({"type": "string", "pattern": "^[A-Za-z' ]+$"}, "I don't know", None),
    ],
)
def test_what_a_patterned_slot_does_not_take(engine, schema, reply, expected):
    conv = _asking_for(engine, schema)
    engine.enqueue({"value": "0000000"}, {"value": "0000000"})  # not in the reply
    turn = conv.reply(reply)
    assert turn.slots == ({} if expected is None else {"value": expected})


def test_a_pattern_is_read_only_for_the_asked_slot(engine):
    script = {
        **SCRIPT,
        "slots": {**SCRIPT["slots"], "phone": {"schema": PHONE, "prompt": "Phone?"}},
    }
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14", "phone": "1234567890"})
    turn = conv.reply("oven on 2025-03-14, call 0170 1234567")  # the phone was not asked
    assert turn.slots == {"appliance": "oven", "date": "2025-03-14"}
