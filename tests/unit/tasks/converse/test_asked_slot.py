"""The asked slot wins: the answer to the question goes to the slot asked, and a guess
of another slot from the same words is dropped (the example script, in Spanish)."""

from __future__ import annotations

from datetime import date

import pytest

from edgewise import FakeEngine
from edgewise.tasks.converse import Conversation

from .helpers import EXAMPLE


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
