"""Conversation scripts: loading, validation errors, languages, what a script can be."""

from __future__ import annotations

import jsonschema
import pytest

from edgewise import FakeEngine
from edgewise.errors import InputError, UnsupportedSchemaError
from edgewise.tasks.converse import Conversation, Script, load_script, parse_script

from .helpers import EXAMPLE, SCRIPT, conversation, write


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
