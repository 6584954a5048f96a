"""Numpy over logits rows, for engines that get logits rather than a native sampler.

``sample_token`` follows llama.cpp's sampler chain for the same options (repeat penalty,
top-k, top-p, temperature), so an option means the same on every engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgewise.types import GenerationOptions

PENALTY_WINDOW = 64  # recent generated tokens the repeat penalty looks at (as llama.cpp's)


def log_softmax(row: np.ndarray) -> np.ndarray:
    """The whole row as log-probabilities, in float64."""
    r = row.astype(np.float64)
    m = float(r.max())
    return r - (m + float(np.log(np.exp(r - m).sum())))


def log_softmax_at(row: np.ndarray, ids: Sequence[int]) -> list[float]:
    """log P(id) for each id under the distribution of one logits row (in the row's dtype,
    without copying the row: scoring reads a few ids from many 49k-wide rows)."""
    m = float(row.max())
    lse = m + float(np.log(np.exp(row - m).sum()))
    return [float(row[i]) - lse for i in ids]


def sample_token(
    logits: np.ndarray,
    opts: GenerationOptions,
    rng: np.random.Generator,
    recent: Sequence[int] = (),
    banned: Sequence[int] = (),
) -> int:
    """Pick the next token the way llama.cpp's sampler chain does for the same options.

    Repeat penalty on ``recent`` tokens, ``banned`` tokens removed (``ignore_eos``), then
    greedy for temperature 0; otherwise top-k, top-p (on the untempered distribution, at
    least one token kept), temperature, and a draw from ``rng``.
    """
    x = logits.astype(np.float64, copy=True)
    if opts.repeat_penalty != 1.0 and len(recent):
        ids = np.unique(np.asarray(recent, dtype=np.int64))
        vals = x[ids]
        x[ids] = np.where(vals > 0, vals / opts.repeat_penalty, vals * opts.repeat_penalty)
    if len(banned):
        x[np.asarray(banned, dtype=np.int64)] = -np.inf
    if opts.temperature == 0.0:
        return int(np.argmax(x))
    cand = np.arange(x.size)
    if 0 < opts.top_k < x.size:
        cand = np.argpartition(-x, opts.top_k - 1)[: opts.top_k]
    cand = cand[np.argsort(-x[cand], kind="stable")]
    vals = x[cand]
    if opts.top_p < 1.0:
        p = np.exp(vals - vals[0])
        p /= p.sum()
        keep = int(np.searchsorted(np.cumsum(p), opts.top_p) + 1)
        cand, vals = cand[:keep], vals[:keep]
    z = (vals - vals[0]) / opts.temperature
    p = np.exp(z)
    p /= p.sum()
    return int(cand[rng.choice(len(cand), p=p)])
