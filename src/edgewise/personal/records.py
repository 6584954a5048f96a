"""The records a profile holds (corrections, items) and the checks on the texts it takes.

They sit below ``profile`` (the SQLite file) so that code which only reads or builds records,
such as the ranking behind recommendations, need not import the profile module, which in turn
calls that code (``Profile.recommend``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from edgewise.errors import InputError

MAX_TEXT_CHARS = 100_000  # one correction, writing sample or item; longer is a user mistake


def check_text(text: Any, what: str = "text") -> str:
    """``text`` if it is a non-empty string within ``MAX_TEXT_CHARS``; else an InputError
    naming ``what``."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{what} is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"{what} is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,} (split it)"
        )
    return text


def digest(text: str) -> bytes:
    """The 16-byte key of a text: its cached embedding's key, and an item's default id."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


@dataclass(frozen=True)
class Feedback:
    """One correction: the text and the label the user says is right."""

    id: int
    text: str
    label: str
    created: float


@dataclass(frozen=True)
class Item:
    """Something the user can like or dislike (an article, a product, a song)."""

    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    rating: int = 0  # 1 liked, -1 disliked, 0 neither
