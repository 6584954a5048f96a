"""Word error rate: (substitutions + deletions + insertions) / words in the reference.

Both texts are normalised the same way first: lower case, punctuation removed (apostrophes
inside words kept), whitespace collapsed. Accents are kept: "después" and "despues" differ.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+(?:'\w+)*", re.UNICODE)


def normalize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, words in the reference)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference`` (0.0 perfect; can exceed 1.0)."""
    errors, n = word_errors(reference, hypothesis)
    if n == 0:
        return 0.0 if not normalize(hypothesis) else float("inf")
    return errors / n
