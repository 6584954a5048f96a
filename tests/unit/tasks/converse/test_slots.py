"""Guided conversation on the FakeEngine: scripts, slot filling, confirmation, cancel, the CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from edgewise import FakeEngine
from edgewise.cli import common
from edgewise.cli.main import cli
from edgewise.errors import InputError, UnsupportedSchemaError
from edgewise.tasks.converse import Conversation, Script, grounded, load_script, parse_script

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "repair_visit.yaml"

SCRIPT = {
    "goal": "book a repair visit",
    "slots": {
        "appliance": {
            "schema": {"type": "string", "enum": ["washing machine", "fridge", "oven"]},
            "prompt": "Which appliance?",
        },
        "date": {"schema": {"type": "string", "format": "date"}, "prompt": "Which day?"},
        "address": {"schema": {"type": "string", "maxLength": 80}, "prompt": "Which address?"},
        "notes": {
            "schema": {"type": "string", "maxLength": 80},
            "prompt": "Anything else?",
            "required": False,
        },
    },
    "confirmation": "{appliance} on {date} at {address} ({notes}). OK?",
    "done": "Booked for {date}.",
}


def tail_scorer(prompt: str, cont: str) -> float:
    """A label scores high when it appears in the item's text (after the last 'Text:')."""
    text = prompt.rsplit("Text:", 1)[-1].rsplit("Assistant:", 1)[0].lower()
    return 0.0 if cont.strip().lower() in text else -5.0


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(scorer=tail_scorer, default_response="{}")


def conversation(engine: FakeEngine, script: dict | None = None) -> Conversation:
    return Conversation(script or SCRIPT, engine, today=date(2025, 3, 10))


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- scripts
def test_example_script_loads_and_its_schema_is_valid():
    script = load_script(EXAMPLE)
    assert list(script.slots)[:3] == ["appliance", "problem", "date"]
    schema = script.schema_for()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "notes" not in schema["required"] and "phone" in schema["required"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("goal: [unclosed\n", "not valid YAML: line"),
        ("- a list\n", "must be a mapping"),
        ("goal: g\nslots: {}\nconfirmation: ok\n", "slots:"),
        ("goal: g\nconfirmation: ok\nslots:\n  a: {schema: {type: string}}\n", "slots.a.prompt"),
        (
            "goal: g\nconfirmation: ok\ncolour: red\nslots:\n  a: {schema: {type: string}, prompt: q}\n",
            "colour: Extra inputs are not permitted",
        ),
        (
            "goal: g\nconfirmation: ok\nslots:\n  a: {schema: {type: string}, prompt: q, typo: 1}\n",
            "slots.a.typo: Extra inputs are not permitted",
        ),
        (
            "goal: g\nconfirmation: ok\nslots:\n  a b: {schema: {type: string}, prompt: q}\n",
            "slots.a b",
        ),
        (
            "goal: g\nconfirmation: 'x {nope}'\nslots:\n  a: {schema: {type: string}, prompt: q}\n",
            "confirmation: unknown slot {nope} (slots: a)",
        ),
        (
            "goal: g\nconfirmation: 'x {a'\nslots:\n  a: {schema: {type: string}, prompt: q}\n",
            "confirmation: bad template",
        ),
        (
            "goal: g\nconfirmation: ok\nslots:\n  a: {schema: {type: strin}, prompt: q}\n",
            "slots.a.schema: not a valid JSON Schema",
        ),
        (
            "goal: g\nconfirmation: ok\nslots:\n"
            "  a: {schema: {enum: [x, y]}, prompt: q, aliases: {z: [zed]}}\n",
            "slots.a.aliases: z is not one of the slot's enum values (x, y)",
        ),
        (
            "goal: g\nconfirmation: ok\nslots:\n"
            "  a: {schema: {type: string}, prompt: q, aliases: {z: [zed]}}\n",
            "slots.a.aliases: z is not one of the slot's enum values (none)",
        ),
        (
            "goal: g\nconfirmation: ok\nslots:\n"
            "  a: {schema: {enum: [red, green]}, prompt: q, aliases: {red: [verde], green: [Verde]}}\n",
            "slots.a.aliases: 'Verde' names both 'red' and 'green'",
        ),
        (
            "goal: g\nconfirmation: ok\nslots:\n"
            "  a: {schema: {enum: [red, green]}, prompt: q, aliases: {red: [green]}}\n",
            "slots.a.aliases: 'green' names both 'green' and 'red'",
        ),
        # a template field is a slot's name alone: anything else would fail only when the
        # values are shown, after the user has answered everything
        (
            "goal: g\nconfirmation: 'ok {a:d}?'\nslots:\n  a: {schema: {type: string}, prompt: q}\n",
            "confirmation: {a:d} is not supported: write {a}, the slot's name alone",
        ),
        (
            "goal: g\nconfirmation: '{a!x}'\nslots:\n  a: {schema: {type: string}, prompt: q}\n",
            "confirmation: {a!x} is not supported",
        ),
        (
            "goal: g\nconfirmation: '{a!r}'\nslots:\n  a: {schema: {type: string}, prompt: q}\n",
            "confirmation: {a!r} is not supported",
        ),
        (
            "goal: g\nconfirmation: ok\ndone: '{a:>{b}}'\nslots:\n"
            "  a: {schema: {type: string}, prompt: q}\n  b: {schema: {type: string}, prompt: q}\n",
            "done: {a:>{b}} is not supported",
        ),
        (
            "goal: g\nconfirmation: ok\ngreeting: 'hi {a[0]}'\nslots:\n"
            "  a: {schema: {type: string}, prompt: q}\n",
            "greeting: {a[0]} is not supported",
        ),
        (
            "goal: g\nconfirmation: '{a.real}'\nslots:\n  a: {schema: {type: number}, prompt: q}\n",
            "confirmation: {a.real} is not supported",
        ),
        (
            "goal: g\nconfirmation: '{nope:d}'\nslots:\n  a: {schema: {type: string}, prompt: q}\n",
            "confirmation: unknown slot {nope:d} (slots: a)",
        ),
    ],
)
def test_bad_scripts_are_one_line_input_errors_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_script(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)) and expected in message


def test_slot_types_the_grammar_cannot_express(tmp_path):
    path = write(
        tmp_path,
        "goal: g\nconfirmation: ok\nslots:\n"
        "  phone: {schema: {type: string, pattern: '^(?!0)[0-9]+$'}, prompt: q}\n",
    )
    with pytest.raises(UnsupportedSchemaError) as info:
        load_script(path)
    assert f"{path}: slots.phone.schema" in str(info.value) and "lookaround" in str(info.value)
    ref = {"type": "object", "properties": {"x": {"$ref": "#/$defs/x"}}, "$defs": {"x": {}}}
    data = {**SCRIPT, "slots": {"a": {"schema": ref, "prompt": "q"}}, "confirmation": "ok"}
    with pytest.raises(UnsupportedSchemaError, match=r"slots\.a\.schema"):
        parse_script(data)
    with pytest.raises(UnsupportedSchemaError, match="format 'email'"):
        Conversation(
            {
                **data,
                "slots": {"a": {"schema": {"type": "string", "format": "email"}, "prompt": "q"}},
            },
            FakeEngine(),
        )


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(InputError, match="cannot read the script"):
        load_script(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("goal: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_script(bad)


# ---------------------------------------------------------------------- turns
def test_slots_fill_across_turns_and_missing_ones_are_asked(engine):
    conv = conversation(engine)
    assert conv.start() == "Which appliance?"
    engine.enqueue({"appliance": "oven", "date": "2025-03-14"})
    turn = conv.reply("The oven, please come on 2025-03-14")
    assert turn.state == "asking" and turn.asking == "address"
    assert turn.slots == {"appliance": "oven", "date": "2025-03-14"}
    assert turn.updated == ["appliance", "date"] and turn.missing == ["address"]
    assert turn.message == "Which address?"
    # the extraction schema holds the missing slots, the asked one first and due, all nullable
    schema = engine.calls[-1]["schema"]
    assert list(schema["properties"]) == ["appliance", "date", "address", "notes"]
    assert schema["required"] == ["appliance"]
    assert schema["properties"]["address"]["type"] == ["string", "null"]
    assert schema["properties"]["appliance"]["enum"][-1] is None
    engine.enqueue({"address": "Hauptstraße 5"})
    turn = conv.reply("Hauptstraße 5")
    schema = engine.calls[-1]["schema"]
    assert list(schema["properties"]) == ["address", "notes"] and schema["required"] == ["address"]
    assert turn.asking == "notes" and turn.missing == []


def test_a_reply_that_fills_nothing_asks_again(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"date": None})
    conv.reply("The oven")  # appliance found by label scoring
    engine.enqueue({"date": None})
    turn = conv.reply("I am not sure")
    assert turn.state == "asking" and turn.asking == "date" and turn.updated == []
    assert turn.message == "Sorry, I did not get that. Which day?"


def test_made_up_values_are_dropped(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "fridge", "date": "2022-01-01", "address": "123 Main Street"})
    turn = conv.reply("My fridge is broken")
    # the date and the address are not in the reply: a small model invented them
    assert turn.slots == {"appliance": "fridge"} and turn.asking == "date"


def test_an_answer_to_another_question_does_not_guess_the_asked_slot(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "fridge", "date": "2025-03-14"})
    turn = conv.reply("Come on 2025-03-14")
    assert turn.slots == {"date": "2025-03-14"} and turn.asking == "appliance"
    assert not [c for c in engine.calls if c["op"] == "score"]  # no label scoring fallback
    assert turn.message == "Which appliance?"  # progress was made: no "sorry"


def test_reply_without_start(engine):
    engine.enqueue({"appliance": "oven", "date": None})
    turn = conversation(engine).reply("the oven")
    assert turn.slots == {"appliance": "oven"} and turn.asking == "date"


def _asking_for_the_date(engine: FakeEngine) -> Conversation:
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "oven"})
    assert conv.reply("oven").asking == "date"
    return conv


def test_impossible_dates_are_not_accepted(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-02-30"})  # the grammar allows it
    assert conv.reply("oven on 2025-02-30").slots == {"appliance": "oven"}


def test_asked_date_given_as_null_is_extracted_again_without_null(engine):
    conv = _asking_for_the_date(engine)
    # a format the rules do not read (month first, with slashes): the model is asked again
    engine.enqueue({"date": None}, {"date": "2025-06-14"})
    turn = conv.reply("on 06/14/2025")
    assert turn.slots["date"] == "2025-06-14" and turn.updated == ["date"]
    forced = engine.calls[-1]["schema"]
    assert forced["required"] == ["date"] and forced["properties"]["date"]["type"] == "string"


def test_a_forced_date_must_agree_with_the_digits_and_no_digits_is_no_date(engine):
    conv = _asking_for_the_date(engine)
    engine.enqueue({"date": None}, {"date": "1406-06-20"})
    assert "date" not in conv.reply("on 06/14/2025").slots
    calls = len(engine.calls)
    engine.enqueue({"date": None})
    turn = conv.reply("whenever suits you")  # the model would pick some date: no guess
    assert "date" not in turn.slots and turn.asking == "date"
    assert len(engine.calls) == calls + 1  # no forced extraction without digits


@pytest.mark.parametrize(
    ("reply", "iso"),
    [
        ("am 14.06.2025", "2025-06-14"),
        ("tomorrow please", "2025-03-11"),
        ("el 12 de junio", "2025-06-12"),
        ("le 14 juin", "2025-06-14"),
        ("übermorgen", "2025-03-12"),
        ("next Friday", "2025-03-14"),
    ],
)
def test_dates_are_read_without_the_model(engine, reply, iso):
    conv = _asking_for_the_date(engine)
    engine.enqueue({"date": "2025-03-10"})  # the model's guess: today
    turn = conv.reply(reply)
    assert turn.slots["date"] == iso and turn.updated == ["date"]


def test_the_asked_enum_is_read_from_the_reply_or_its_aliases(engine):
    script = {**SCRIPT}
    script["slots"] = {
        **SCRIPT["slots"],
        "appliance": {
            **SCRIPT["slots"]["appliance"],
            "aliases": {"fridge": ["Kühlschrank", "nevera", "frigo"]},
        },
    }
    for reply, value in [("Mein Oven ist kaputt", "oven"), ("la nevera", "fridge"),
                         ("der KUHLSCHRANK", "fridge"), ("both ovens", "oven")]:  # fmt: skip
        conv = conversation(engine, script)
        conv.start()
        engine.enqueue({"appliance": "washing machine"})  # not what the user said
        assert conv.reply(reply).slots == {"appliance": value}, reply
    assert not [c for c in engine.calls if c["op"] == "score"]  # no label scoring needed
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"appliance": None})
    turn = conv.reply("the fridge or the oven")  # two values named: the rules do not choose
    assert turn.asking == "appliance" and "appliance" not in turn.slots


def test_aliases_of_an_integer_enum(engine):
    script = {
        "goal": "g",
        "confirmation": "{n}?",
        "slots": {"n": {"schema": {"enum": [1, 2]}, "prompt": "q", "aliases": {1: ["one"]}}},
    }
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"n": None})
    assert conv.reply("just one").slots == {"n": 1}


def test_the_asked_enum_falls_back_to_label_scoring_with_a_none_label_and_a_floor():
    def scorer(prompt: str, cont: str) -> float:
        text = prompt.rsplit("Text:", 1)[-1].lower()
        if "backofen" in text:
            return 0.0 if cont == "oven" else -6.0
        if "gerät" in text:  # an unsure model: two labels close
            return 0.0 if cont in ("oven", "fridge") else -6.0
        return 0.0 if cont == "none of these" else -6.0

    engine = FakeEngine(scorer=scorer, default_response="{}")
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "washing machine"})
    assert conv.reply("Mein Backofen ist kaputt").slots == {"appliance": "oven"}
    scored = [c for c in engine.calls if c["op"] == "score"][-1]["continuations"]
    assert scored == ["washing machine", "fridge", "oven", "none of these"]
    for reply in ("Das Gerät in der Küche", "hmm, let me think"):
        conv = conversation(engine)
        conv.start()
        engine.enqueue({"appliance": "washing machine"})
        turn = conv.reply(reply)
        assert turn.slots == {} and turn.asking == "appliance", reply


@pytest.mark.parametrize(
    "reply", ["I don't know yet", "No idea", "keine Ahnung", "no lo sé", "je ne sais pas"]
)
def test_a_reply_saying_the_user_does_not_know_fills_nothing(engine, reply):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14"})
    conv.reply("oven on 2025-03-14")
    engine.enqueue({"address": reply})  # the model copies the reply
    turn = conv.reply(reply)
    assert "address" not in turn.slots and turn.asking == "address"
    assert turn.message == "Sorry, I did not get that. Which address?"


def test_the_whole_reply_is_not_taken_for_another_slot(engine):
    conv = _asking_for_the_date(engine)
    engine.enqueue({"date": None, "address": "2025-02-30"})  # an impossible date, as address
    turn = conv.reply("2025-02-30")
    assert turn.slots == {"appliance": "oven"} and turn.asking == "date"


COUNT_SCRIPT = {
    "goal": "book a table",
    "slots": {
        "people": {"schema": {"type": "integer", "minimum": 1}, "prompt": "How many people?"},
        "day": {"schema": {"type": "string", "format": "date"}, "prompt": "Which day?"},
    },
    "confirmation": "{people} on {day}?",
}


@pytest.mark.parametrize(
    ("reply", "model", "expected"),
    [
        ("4", {"people": 12}, {"people": 4}),  # the model misread it; the one number stated
        ("somos cuatro", {"people": None}, {"people": 4}),
        ("wir sind zu fünft", {"people": None}, {}),  # not a count word we know: asked again
        ("el 12 de junio", {"people": 12, "day": None}, {"day": "2025-06-12"}),
        ("12 people on the 12 of June", {"people": 12}, {"people": 12, "day": "2025-06-12"}),
        ("2 or 3", {"people": 2}, {}),  # two counts: the model's choice is a guess
        ("somos 2 o 3", {"people": None}, {}),
    ],
)
def test_counts_are_read_outside_dates(reply, model, expected):
    engine = FakeEngine(scorer=tail_scorer, default_response="{}")
    conv = conversation(engine, COUNT_SCRIPT)
    conv.start()
    engine.enqueue(model)
    assert conv.reply(reply).slots == expected


def test_asked_free_text_falls_back_to_the_reply(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14"})
    conv.reply("oven on 2025-03-14")
    engine.enqueue({"address": "123 Main Street"})  # invented
    turn = conv.reply("Hauptstraße 5,   Berlin")
    assert turn.slots["address"] == "Hauptstraße 5, Berlin"


def test_a_failed_extraction_asks_again_instead_of_failing(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue("not json", "still not json")
    turn = conv.reply("2025-03-14")
    # nothing extracted; the date is still read by the rules, and the appliance asked again
    assert turn.state == "asking" and turn.asking == "appliance"
    assert turn.slots == {"date": "2025-03-14"}


def _to_confirmation(engine: FakeEngine) -> Conversation:
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    turn = conv.reply("oven, 2025-03-14, Hauptstraße 5")
    assert turn.asking == "notes"
    calls = len(engine.calls)
    turn = conv.reply("nein")  # skips the optional slot without the model
    assert len(engine.calls) == calls
    assert turn.state == "confirming" and turn.asking is None
    assert turn.message == "oven on 2025-03-14 at Hauptstraße 5 (-). OK?"
    return conv


def test_yes_ends_with_a_validated_result(engine):
    conv = _to_confirmation(engine)
    turn = conv.reply("Yes!")
    assert turn.state == "done" and turn.message == "Booked for 2025-03-14."
    assert (
        turn.result
        == conv.result
        == {
            "appliance": "oven",
            "date": "2025-03-14",
            "address": "Hauptstraße 5",
        }
    )
    jsonschema.validate(turn.result, conv.script.schema_for())
    with pytest.raises(InputError, match="over"):
        conv.reply("hello?")


def test_a_correction_is_applied_and_confirmed_again(engine):
    conv = _to_confirmation(engine)
    # the model copies the whole reply into the free-text field too; only the date changes
    engine.enqueue({"date": "2025-03-15", "address": "no, make it 2025-03-15"})
    turn = conv.reply("no, make it 2025-03-15")
    assert turn.state == "confirming" and turn.updated == ["date"]
    assert turn.slots["address"] == "Hauptstraße 5" and "2025-03-15" in turn.message
    assert conv.reply("ok").result["date"] == "2025-03-15"


def test_no_asks_what_to_change_and_only_a_stated_yes_finishes(engine):
    conv = _to_confirmation(engine)
    turn = conv.reply("no")
    assert turn.state == "confirming" and turn.message == "What should I change?"
    turn = conv.reply("that is all wrong")  # nothing extracted; a negation
    assert turn.state == "confirming" and turn.message == "What should I change?"
    summary = "oven on 2025-03-14 at Hauptstraße 5 (-). OK?"
    for reply in ["I don't know", "keine Ahnung", "no sé", "maybe", "I am not sure",
                  "hmm, wait", "hmm", "what?"]:  # fmt: skip
        turn = conv.reply(reply)
        assert turn.state == "confirming", reply
        assert turn.message == f"Sorry, I did not get that. {summary}", reply
    assert not [c for c in engine.calls if c["op"] == "score"]  # no label scoring
    turn = conv.reply("alright then, yes go ahead")
    assert turn.state == "done" and turn.result is not None


@pytest.mark.parametrize(
    "reply", ["sounds good", "Perfect, thanks!", "ja bitte", "sí, perfecto", "d'accord", "Ok."]
)
def test_a_yes_inside_a_reply_confirms(engine, reply):
    assert _to_confirmation(engine).reply(reply).state == "done"


@pytest.mark.parametrize("reply", ["not ok", "yes but the date is wrong", "no, perfect is not it"])
def test_a_yes_with_a_negation_does_not_confirm(engine, reply):
    turn = _to_confirmation(engine).reply(reply)
    assert turn.state == "confirming" and turn.message == "What should I change?"


def test_a_correction_does_not_fill_a_skipped_slot_with_a_yes_no_word(engine):
    conv = _to_confirmation(engine)  # notes were skipped with "nein"
    engine.enqueue({"appliance": "fridge", "notes": "no"})
    turn = conv.reply("no, it is the fridge")
    assert turn.updated == ["appliance"] and "notes" not in turn.slots


@pytest.mark.parametrize(
    ("reply", "model"),
    [
        ("fridge or oven", {"appliance": "fridge"}),
        ("not the fridge, the oven", {"appliance": "fridge"}),
    ],
)
def test_two_values_named_fill_nothing(engine, reply, model):
    conv = conversation(engine)
    conv.start()
    engine.enqueue(model)
    turn = conv.reply(reply)
    assert turn.slots == {} and turn.asking == "appliance"


def test_free_text_for_another_slot_needs_the_asked_one_answered(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": None, "address": "the microwave"})
    turn = conv.reply("none of them, it is the microwave")
    assert turn.slots == {} and turn.asking == "appliance"
    engine.enqueue({"appliance": "oven", "address": "Hauptstraße 5"})
    turn = conv.reply("the oven, at Hauptstraße 5")
    assert turn.slots == {"appliance": "oven", "address": "Hauptstraße 5"}


def test_the_asked_free_text_is_the_whole_reply_when_it_holds_nothing_else(engine):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14"})
    conv.reply("oven on 2025-03-14")
    engine.enqueue({"address": "Hauptstraße"})  # a fragment of the reply
    assert conv.reply("Hauptstraße 5, Berlin").slots["address"] == "Hauptstraße 5, Berlin"


@pytest.mark.parametrize("word", ["cancel", "  Stop. ", "abbrechen"])
def test_cancel(engine, word):
    conv = conversation(engine)
    conv.start()
    turn = conv.reply(word)
    assert turn.state == "cancelled" and turn.result is None and turn.message == "Cancelled."
    assert not [c for c in engine.calls if c["op"] == "generate"]
    with pytest.raises(InputError):
        conv.reply("oven")


def test_cancel_while_confirming_and_programmatically(engine):
    conv = _to_confirmation(engine)
    assert conv.reply("quit").state == "cancelled"
    conv = conversation(engine)
    assert conv.cancel().state == "cancelled"


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_reply_is_an_input_error(engine, text):
    conv = conversation(engine)
    conv.start()
    with pytest.raises(InputError, match="empty reply"):
        conv.reply(text)
    assert conv.state == "asking"


def test_a_script_in_another_language(engine):
    script = {
        **SCRIPT,
        "greeting": "Hallo! Wir buchen einen Reparaturtermin.",
        "slots": {
            "geraet": {
                "schema": {"enum": ["Waschmaschine", "Kühlschrank", "Backofen"]},
                "prompt": "Welches Gerät?",
            },
            "datum": {"schema": {"type": "string", "format": "date"}, "prompt": "Welcher Tag?"},
        },
        "confirmation": "{geraet} am {datum}. Stimmt das?",
        "done": "Gebucht.",
        "retry": "Das habe ich nicht verstanden.",
        "keywords": {"yes": ["ja", "passt"], "cancel": ["abbruch"]},
    }
    conv = conversation(engine, script)
    assert conv.start() == "Hallo! Wir buchen einen Reparaturtermin.\nWelches Gerät?"
    engine.enqueue({"geraet": "Kühlschrank", "datum": "2025-03-14"})
    turn = conv.reply("Der Kühlschrank, am 14.03.2025 bitte")
    assert turn.slots == {"geraet": "Kühlschrank", "datum": "2025-03-14"}
    assert turn.message == "Kühlschrank am 2025-03-14. Stimmt das?"
    system = engine.calls[-1]["prompt"]
    assert "any language" in system and "without translating" in system
    assert conv.reply("Passt!").state == "done"
    conv = conversation(engine, script)
    conv.start()
    assert conv.reply("abbruch").state == "cancelled"


def test_grounding_rules():
    date_schema = {"type": "string", "format": "date"}
    assert grounded("2025-03-14", date_schema, "am 14.03.2025")
    assert grounded("2025-03-14", date_schema, "on March 14, 2025")
    assert not grounded("2022-01-01", date_schema, "1 Main Street")
    assert grounded(3, {}, "3 rooms") and not grounded(4, {}, "3 rooms")
    assert grounded("Main  Street", {}, "at main street.") and not grounded(True, {}, "yes")


def test_script_objects_are_checked_too():
    script = Script.model_validate(
        {**SCRIPT, "slots": {"a": {"schema": {"not": {}}, "prompt": "q"}}, "confirmation": "ok"}
    )
    with pytest.raises(UnsupportedSchemaError, match="'not'"):
        Conversation(script, FakeEngine())


@pytest.mark.parametrize("script", [None, 5, ["goal"]])
def test_a_script_of_another_type_is_an_input_error(script):
    with pytest.raises(InputError, match="a script is a Script, a mapping or a YAML file path"):
        Conversation(script, FakeEngine())


# ---------------------------------------------------------------------- CLI
@pytest.fixture
def cli_engine(monkeypatch, engine):
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: engine)
    return engine


def _script_file(tmp_path: Path) -> Path:
    return write(tmp_path, json.dumps(SCRIPT), "repair.yaml")  # JSON is YAML


def test_cli_runs_a_conversation_and_prints_the_result(tmp_path, cli_engine):
    cli_engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    result = CliRunner().invoke(
        cli,
        ["converse", str(_script_file(tmp_path))],
        input="oven 2025-03-14 Hauptstraße 5\n\nno\nyes\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "appliance": "oven",
        "date": "2025-03-14",
        "address": "Hauptstraße 5",
    }
    assert "Which appliance?" in result.stderr and "empty reply" in result.stderr
    assert "Booked for 2025-03-14." in result.stderr


def test_cli_json_lines(tmp_path, cli_engine):
    result = CliRunner().invoke(
        cli, ["converse", "--json", str(_script_file(tmp_path))], input="cancel\n"
    )
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"message": "Which appliance?", "state": "asking", "asking": "appliance"}
    assert lines[-1]["state"] == "cancelled" and lines[-1]["result"] is None


def test_cli_end_of_input_is_one_line_and_non_zero(tmp_path, cli_engine):
    result = CliRunner().invoke(cli, ["converse", str(_script_file(tmp_path))], input="")
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: input ended before") and "3 required slots still empty" in last
    assert result.stdout == ""
    cli_engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    lines = "oven, 2025-03-14, Hauptstraße 5\nnein\n"  # to the summary, then the input ends
    result = CliRunner().invoke(cli, ["converse", str(_script_file(tmp_path))], input=lines)
    assert result.exit_code == 1 and "the summary was not confirmed" in result.stderr


def test_cli_bad_script_fails_before_loading_a_model(tmp_path, monkeypatch):
    def no_model(model, **kw):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(common, "load_engine", no_model)
    path = write(tmp_path, "goal: g\nslots: {a: {schema: {type: string}, prompt: q}}\n")
    result = CliRunner().invoke(cli, ["converse", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {path}: confirmation: Field required"
    result = CliRunner().invoke(cli, ["converse", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1


def test_a_yes_but_is_no_clean_yes(engine):
    engine.enqueue({})  # the model finds no new value in it
    turn = _to_confirmation(engine).reply("d'accord, mais le numéro est 06 99 88 77 66")
    assert turn.state == "confirming" and turn.message == "What should I change?"


def test_a_correction_is_not_also_stored_whole_in_a_free_text_slot(engine):
    conv = _to_confirmation(engine)  # notes skipped
    engine.enqueue({"notes": "non, plutôt demain"})  # the reply copied; the date read by rules
    turn = conv.reply("non, plutôt demain")
    assert turn.updated == ["date"] and turn.slots["date"] == "2025-03-11"
    assert "notes" not in turn.slots


def test_free_text_goes_only_to_the_slot_the_reply_names(engine):
    script = {
        **SCRIPT,
        "slots": {
            **SCRIPT["slots"],
            "phone": {"schema": {"type": "string", "maxLength": 30}, "prompt": "Phone?"},
        },
    }
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    conv.reply("oven, 2025-03-14, Hauptstraße 5")
    conv.reply("nein")  # notes
    engine.enqueue({"phone": "555 123"})
    assert conv.reply("555 123").state == "confirming"
    engine.enqueue({"address": "0170 999888"})  # the model's slot is the wrong one
    turn = conv.reply("change the phone to 0170 999888")
    assert turn.slots["address"] == "Hauptstraße 5" and turn.slots["phone"] == "555 123"
    assert turn.message == "What should I change?"


@pytest.mark.parametrize("reply", ["nein danke", "no, thanks", "Non merci"])
def test_a_short_no_skips_an_optional_slot(engine, reply):
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    conv.reply("oven, 2025-03-14, Hauptstraße 5")
    calls = len(engine.calls)
    turn = conv.reply(reply)
    assert turn.state == "confirming" and "notes" not in turn.slots
    assert len(engine.calls) == calls  # decided without the model


def test_two_values_named_get_no_label_scoring_either():
    def scorer(prompt: str, cont: str) -> float:
        return 0.0 if cont == "oven" else -9.0  # a model sure of one of them

    engine = FakeEngine(scorer=scorer, default_response="{}")
    conv = conversation(engine)
    conv.start()
    engine.enqueue({"appliance": None})
    turn = conv.reply("fridge and oven")
    assert turn.slots == {} and turn.asking == "appliance"


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


def test_a_reply_that_held_other_values_is_not_the_asked_free_text(engine):
    slots = SCRIPT["slots"]
    order = ("appliance", "address", "date")  # the address is asked before the day
    script = {**SCRIPT, "slots": {k: slots[k] for k in order}, "confirmation": "{date} OK?"}
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"appliance": "oven", "address": None, "date": None})
    assert conv.reply("the oven").asking == "address"
    engine.enqueue({"address": "tomorrow", "date": "2025-03-11"})
    turn = conv.reply("tomorrow")  # asked where; answered when
    assert turn.slots["date"] == "2025-03-11" and "address" not in turn.slots
    assert turn.asking == "address"


def test_literal_braces_and_an_empty_format_spec_still_render(engine):
    script = {**SCRIPT, "confirmation": "{{appliance}} is {appliance:}, on {date}?"}
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    conv.reply("oven, 2025-03-14, Hauptstraße 5")
    assert conv.reply("nein").message == "{appliance} is oven, on 2025-03-14?"


# ---------------------------------------------------------------------- patterned slots
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


# ---------------------------------------------------------------------- the asked slot wins
def _asking_for_the_problem(engine: FakeEngine) -> Conversation:
    conv = Conversation(EXAMPLE, engine, today=date(2025, 6, 2))
    conv.start()
    engine.enqueue({"appliance": "fridge"})
    assert conv.reply("Mi lavavajillas pierde agua").asking == "problem"  # the alias
    return conv


def test_the_answer_to_the_question_wins_over_a_guess_from_its_words(engine):
    conv = _asking_for_the_problem(engine)
    # what SmolLM2-135M extracts: the reply as the problem, and a part of it as the address
    engine.enqueue(
        {
            "problem": "hay agua en el suelo",
            "date": "2025-06-02",
            "time_window": "morning",
            "address": "El suelo",
            "phone": "123-456-7890",
        }
    )
    turn = conv.reply("hay agua en el suelo")
    assert turn.slots == {"appliance": "dishwasher", "problem": "hay agua en el suelo"}
    assert turn.updated == ["problem"] and turn.asking == "date"
    engine.enqueue({"date": None, "address": "Calle Mayor 3, Madrid"})
    turn = conv.reply("Calle Mayor 3, Madrid")  # asked the day: not the problem now
    assert turn.slots["problem"] == "hay agua en el suelo" and turn.asking == "date"


@pytest.mark.parametrize(
    "model",
    [
        {"problem": "agua en el suelo", "address": "el suelo"},  # inside the answer
        {"problem": "hay agua en", "address": "en el suelo"},  # overlapping it
        {"problem": "hay agua", "address": "hay agua en el suelo"},  # holding it
    ],
)
def test_a_guess_sharing_words_with_the_answer_is_dropped(engine, model):
    conv = _asking_for_the_problem(engine)
    engine.enqueue(model)
    turn = conv.reply("hay agua en el suelo")
    assert turn.slots == {"appliance": "dishwasher", "problem": "hay agua en el suelo"}


def test_another_value_apart_from_the_answer_is_kept(engine):
    conv = _asking_for_the_problem(engine)
    engine.enqueue({"problem": "it leaks", "address": "Calle Mayor 3"})
    turn = conv.reply("it leaks; I live at Calle Mayor 3")
    assert turn.slots == {"appliance": "dishwasher", "problem": "it leaks",
                          "address": "Calle Mayor 3"}  # fmt: skip
    conv = _asking_for_the_problem(engine)
    engine.enqueue({"problem": "the address Calle Mayor 3 is flooded", "address": "Calle Mayor 3"})
    turn = conv.reply("the address Calle Mayor 3 is flooded")  # the reply names the slot
    assert turn.slots == {"appliance": "dishwasher", "address": "Calle Mayor 3"}


def test_a_date_and_a_time_are_still_no_problem(engine):
    conv = _asking_for_the_problem(engine)
    engine.enqueue({"problem": "tomorrow morning", "address": "morning"})
    turn = conv.reply("tomorrow morning")
    assert turn.slots == {"appliance": "dishwasher", "date": "2025-06-03",
                          "time_window": "morning"}  # fmt: skip
    assert turn.asking == "problem"
