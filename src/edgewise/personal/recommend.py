"""Local recommendations from a profile's likes and dislikes: ``recommend(profile=...)``.

The ranking (relevance to likes and dislikes on MiniLM vectors, maximal marginal relevance,
a reason per pick) is in ``personal.ranking``; this entry point takes a profile or its name.
``Profile.recommend`` calls the ranking directly, so the profile module never imports this
one, which imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgewise.engines.base import Engine
from edgewise.personal.profile import Item, Profile, open_profile
from edgewise.personal.ranking import (
    DISLIKE_WEIGHT,
    LAMBDA,
    REASON_CHARS,
    TOP_LIKED,
    Recommendation,
    check_options,
    recommend_for,
)

__all__ = [
    "DISLIKE_WEIGHT",
    "LAMBDA",
    "REASON_CHARS",
    "TOP_LIKED",
    "Recommendation",
    "recommend",
]


def recommend(
    candidates: Sequence[str | Mapping[str, Any] | Item] | None = None,
    k: int = 5,
    *,
    profile: Profile | str,
    reasons: str = "template",
    engine: Engine | None = None,
    diversity: float | None = None,
) -> list[Recommendation]:
    """The ``k`` candidates the user is likeliest to want, most relevant first, diverse.

    ``candidates`` default to the profile's items that are neither liked nor disliked.
    ``reasons="model"`` has the model write each reason (slower); ``"template"`` names the
    closest liked item. ``diversity`` is ``1 - LAMBDA`` of MMR (0 = pure relevance).
    """
    check_options(k, reasons, diversity)
    return recommend_for(
        open_profile(profile),
        candidates,
        k,
        reasons=reasons,
        engine=engine,
        diversity=diversity,
    )
