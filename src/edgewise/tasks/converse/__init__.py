"""Guided conversation: a YAML script of slots, filled turn by turn, confirmed, validated.

A script names a goal, the slots (each a JSON Schema, a question, a description) and the texts
to show; every text the user sees comes from the script, so it can speak any language. Each
reply is extracted under a grammar into the slots still missing, all nullable ("not given").

A small model invents values, and a wrong value that is kept is worse than a question asked
again, so a value counts only if the reply states it (its text, a date's day and month or
year, a number's digits outside the dates). Some values are read without the model: an enum
value or one of the script's aliases named in the reply, a date ("tomorrow", "14.06.2025",
"el 12 de junio"; text/dates.py), a count ("4", "cuatro"), and for the slot just asked for,
the part of the reply its ``pattern`` matches ("+49 170 1234567"). The asked slot has two
fallbacks when the reply states nothing the rules recognize: an enum by label scoring (with a
"none of these" label and a confidence floor), free text as the reply itself; a reply that says
"I don't know" (the script's ``unsure`` phrases) gets neither, and a reply naming two values of
a slot fills neither. With every required slot filled the confirmation is shown: new values are
a correction; only a stated yes (a keyword, or a yes phrase in a reply with no negation and no
hesitation) ends with a validated result, never label scoring; a no asks what to change, and
anything else shows the summary again.

The parts, each in its module: ``script`` (the script's model, loading and checks),
``lexicon`` (keywords and phrases matched without the model), ``grounding`` (whether a reply
states a value), ``filling`` (a reply read into slot values) and ``dialog`` (``Conversation``:
what is asked next, the confirmation, the result).
"""

from __future__ import annotations

from edgewise.tasks.converse.dialog import Conversation
from edgewise.tasks.converse.filling import ENUM_INSTRUCTION, ENUM_MIN, INSTRUCTION, NONE
from edgewise.tasks.converse.grounding import grounded
from edgewise.tasks.converse.lexicon import (
    CANCEL,
    CONFIRM,
    COUNT_WORDS,
    HESITATION,
    NEGATION,
    NO,
    PUNCT,
    UNSURE,
    YES,
)
from edgewise.tasks.converse.script import (
    Keywords,
    Script,
    Slot,
    SlotName,
    State,
    Turn,
    check_script,
    load_script,
    parse_script,
)

__all__ = [
    "CANCEL",
    "CONFIRM",
    "COUNT_WORDS",
    "ENUM_INSTRUCTION",
    "ENUM_MIN",
    "HESITATION",
    "INSTRUCTION",
    "NEGATION",
    "NO",
    "NONE",
    "PUNCT",
    "UNSURE",
    "YES",
    "Conversation",
    "Keywords",
    "Script",
    "Slot",
    "SlotName",
    "State",
    "Turn",
    "check_script",
    "grounded",
    "load_script",
    "parse_script",
]
