"""What the guided-conversation tests share: the repair-visit script (inline, and the
example file), a scorer that favours labels the text names, and small constructors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from edgewise import FakeEngine
from edgewise.tasks.converse import Conversation

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


def conversation(engine: FakeEngine, script: dict | None = None) -> Conversation:
    return Conversation(script or SCRIPT, engine, today=date(2025, 3, 10))


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
