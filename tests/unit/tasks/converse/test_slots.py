"""Slot filling across turns on the FakeEngine: what a reply fills, what is read by
rules (dates, enums, counts), what is asked again, and which slot an answer goes to."""

from __future__ import annotations

import pytest

from edgewise import FakeEngine
from edgewise.tasks.converse import Conversation, grounded

from .helpers import SCRIPT, conversation, tail_scorer


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


def test_grounding_rules():
    date_schema = {"type": "string", "format": "date"}
    assert grounded("2025-03-14", date_schema, "am 14.03.2025")
    assert grounded("2025-03-14", date_schema, "on March 14, 2025")
    assert not grounded("2022-01-01", date_schema, "1 Main Street")
    assert grounded(3, {}, "3 rooms") and not grounded(4, {}, "3 rooms")
    assert grounded("Main  Street", {}, "at main street.") and not grounded(True, {}, "yes")


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
