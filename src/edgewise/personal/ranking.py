"""Recommendations ranked from a profile's likes and dislikes (behind ``Profile.recommend``).

Each candidate is scored by how close it is to what the user liked and how far from what they
disliked, on MiniLM vectors cached in the profile::

    relevance = mean of the top-3 similarities to liked items
                - DISLIKE_WEIGHT * the highest similarity to a disliked item

and the list is picked by maximal marginal relevance (Carbonell and Goldstein, 1998):
each next pick maximizes ``LAMBDA * relevance - (1 - LAMBDA) * similarity to the picks so
far``, so five near-identical articles do not fill the top five. With no likes at all the
relevance is zero and MMR alone spreads the picks. Every pick carries a reason: the liked item
it is closest to, and (``reasons="model"``) one sentence the model writes from the two texts.

The candidate search is one matrix product (numpy): 100,000 stored vectors answer in well
under 50 ms here (benchmarks/personal_embeddings.py); beyond a few million, an approximate
index (HNSW, e.g. hnswlib or sqlite-vec) would take over.

This module reads the profile only through what it is given (``Rated``: its items and cached
vectors), so ``Profile.recommend`` can call it; ``personal.recommend`` opens a profile by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from edgewise.engines.base import Engine
from edgewise.errors import InputError
from edgewise.personal.records import Item, check_text, digest
from edgewise.types import Message

if TYPE_CHECKING:
    import numpy as np

LAMBDA = 0.7
DISLIKE_WEIGHT = 0.5
TOP_LIKED = 3
REASON_CHARS = 240


class Rated(Protocol):
    """What ranking needs of a profile (``Profile`` has it): the rated items, and vectors
    cached per embedder."""

    def items(self, rating: int | None = None) -> list[Item]: ...

    def embeddings(self, texts: Sequence[str], embedder: Any) -> np.ndarray: ...


class Recommendation(BaseModel):
    """One recommended item."""

    id: str
    text: str
    score: float = Field(description="Relevance to the user's likes and dislikes.")
    reason: str = Field(description="Why it is recommended.")
    similar_to: str | None = Field(default=None, description="Id of the closest liked item.")


def _as_items(candidates: Iterable[str | Mapping[str, Any] | Item]) -> list[Item]:
    out: list[Item] = []
    for raw in candidates:
        if isinstance(raw, Item):
            out.append(raw)
        elif isinstance(raw, str):
            out.append(Item(digest(check_text(raw, "candidate")).hex()[:12], raw))
        elif isinstance(raw, Mapping) and isinstance(raw.get("text"), str):
            text = check_text(raw["text"], "candidate text")
            item_id = str(raw.get("id") or digest(text).hex()[:12])
            meta = {k: v for k, v in raw.items() if k not in ("id", "text")}
            out.append(Item(item_id, text, meta))
        else:
            raise InputError(f"a candidate is a string or an object with 'text': {raw!r}")
    return out


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def check_options(k: int, reasons: str, diversity: float | None) -> float:
    """The MMR ``LAMBDA`` for ``diversity``, after checking the options (before any profile is
    opened, so a bad option is reported as such)."""
    if k < 1:
        raise InputError("k must be at least 1")
    if reasons not in ("template", "model"):
        raise InputError(f"reasons must be 'template' or 'model', not {reasons!r}")
    lam = LAMBDA if diversity is None else 1.0 - diversity
    if not 0.0 <= lam <= 1.0:
        raise InputError("diversity must be between 0 and 1")
    return lam


def recommend_for(
    prof: Rated,
    candidates: Sequence[str | Mapping[str, Any] | Item] | None = None,
    k: int = 5,
    *,
    reasons: str = "template",
    engine: Engine | None = None,
    diversity: float | None = None,
) -> list[Recommendation]:
    """The ``k`` candidates the user of ``prof`` is likeliest to want, most relevant first,
    diverse (``personal.recommend.recommend`` for the options)."""
    import numpy as np

    from edgewise.personal.embed import default_embedder

    lam = check_options(k, reasons, diversity)
    rated = prof.items()
    liked = [it for it in rated if it.rating > 0]
    disliked = [it for it in rated if it.rating < 0]
    if candidates is None:
        pool = [it for it in rated if it.rating == 0]
    else:
        pool = _as_items(candidates)
    seen = {it.id for it in liked + disliked}
    pool = [it for it in pool if it.id not in seen]
    if not pool:
        return []
    emb = default_embedder()
    vecs = prof.embeddings([it.text for it in pool], emb)
    relevance = np.zeros(len(pool), dtype=np.float32)
    nearest: list[int | None] = [None] * len(pool)
    if liked:
        lv = prof.embeddings([it.text for it in liked], emb)
        sims = vecs @ lv.T
        top = np.sort(sims, axis=1)[:, ::-1][:, :TOP_LIKED]
        relevance += top.mean(axis=1)
        nearest = [int(i) for i in sims.argmax(axis=1)]
    if disliked:
        dv = prof.embeddings([it.text for it in disliked], emb)
        relevance -= DISLIKE_WEIGHT * (vecs @ dv.T).max(axis=1)
    picks: list[int] = []
    chosen_max = np.full(len(pool), -np.inf, dtype=np.float32)
    for _ in range(min(k, len(pool))):
        redundancy = np.where(np.isfinite(chosen_max), chosen_max, 0.0)
        mmr = lam * relevance - (1.0 - lam) * redundancy
        mmr[picks] = -np.inf
        best = int(np.argmax(mmr))
        picks.append(best)
        chosen_max = np.maximum(chosen_max, vecs @ vecs[best])
    out = []
    for i in picks:
        it = pool[i]
        idx = nearest[i]
        near = liked[idx] if idx is not None else None
        if near is None:
            reason = "you have not liked anything yet: picked for variety"
        elif reasons == "model":
            reason = _model_reason(engine, it.text, near.text)
        else:
            reason = f'close to "{_short(near.text)}", which you liked'
        out.append(
            Recommendation(
                id=it.id,
                text=it.text,
                score=round(float(relevance[i]), 4),
                reason=reason,
                similar_to=near.id if near else None,
            )
        )
    return out


def _model_reason(engine: Engine | None, item: str, liked: str) -> str:
    from edgewise.tasks import default_engine

    eng = engine or default_engine()
    prompt = [
        Message(
            role="system",
            content="Say in one short sentence why someone who liked the first item "
            "would like the second. Start with 'Because'.",
        ),
        Message(
            role="user",
            content=f"Liked: {liked[:REASON_CHARS]}\nRecommended: {item[:REASON_CHARS]}",
        ),
    ]
    text = eng.generate(prompt, {"max_tokens": 40, "temperature": 0.0, "stop": ["\n"]}).text
    text = text.strip()
    return text or f'close to "{_short(liked)}", which you liked'
