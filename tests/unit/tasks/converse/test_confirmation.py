"""The end of a conversation: confirming the summary, corrections, a no, cancel, and
empty replies."""

from __future__ import annotations

import jsonschema
import pytest

from edgewise import FakeEngine
from edgewise.errors import InputError
from edgewise.tasks.converse import Conversation

from .helpers import SCRIPT, conversation


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


def test_literal_braces_and_an_empty_format_spec_still_render(engine):
    script = {**SCRIPT, "confirmation": "{{appliance}} is {appliance:}, on {date}?"}
    conv = conversation(engine, script)
    conv.start()
    engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    conv.reply("oven, 2025-03-14, Hauptstraße 5")
    assert conv.reply("nein").message == "{appliance} is oven, on 2025-03-14?"
