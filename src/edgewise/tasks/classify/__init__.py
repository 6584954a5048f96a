"""Classify and route text by scoring label continuations, calibrated, with abstention.

The model never generates an answer to be parsed. The instructions, the label list with
descriptions and the few-shot examples form one prompt prefix, evaluated once and kept in the
engine's KV cache; each item's text follows it, and every label is scored as a continuation
(multi-token labels in full). Items of a batch are evaluated together as sequences sharing the
prefix (``Engine.score_batch``), and the prefix is kept on disk for the next process
(``persist``). The label prior of the prompt is divided out (``calibration``).

The parts, each in its module: ``inputs`` (labels, examples and texts checked and cleaned),
``prompt`` (the prompt layout as tokens), ``calibration`` (the label prior and how it is
divided out) and ``classifier`` (``Classifier``, ``classify``, ``classify_many``). With a
profile's corrections, ``edgewise.classify`` goes through ``edgewise.personal.learn``: this
package knows nothing of profiles.
"""

from __future__ import annotations

from edgewise.tasks.classify.calibration import (
    CONTENT_FREE,
    DOMAIN_MAX_WORDS,
    DOMAIN_MIN_WORDS,
    DOMAIN_SAMPLES,
    MIN_PRIOR_SKEW,
)
from edgewise.tasks.classify.classifier import (
    CHUNK_ITEMS,
    CHUNK_TOKENS,
    Classification,
    Classifier,
    Progress,
    classify,
    classify_many,
)
from edgewise.tasks.classify.inputs import Example, spoken_labels
from edgewise.tasks.classify.prompt import (
    EXAMPLE_TOKENS,
    INSTRUCTION,
    MULTI_FIXED_TOKENS,
    MULTI_INSTRUCTION,
    MULTI_LABEL_TOKENS,
    SENTINEL,
)

__all__ = [
    "CHUNK_ITEMS",
    "CHUNK_TOKENS",
    "CONTENT_FREE",
    "DOMAIN_MAX_WORDS",
    "DOMAIN_MIN_WORDS",
    "DOMAIN_SAMPLES",
    "EXAMPLE_TOKENS",
    "INSTRUCTION",
    "MIN_PRIOR_SKEW",
    "MULTI_FIXED_TOKENS",
    "MULTI_INSTRUCTION",
    "MULTI_LABEL_TOKENS",
    "SENTINEL",
    "Classification",
    "Classifier",
    "Example",
    "Progress",
    "classify",
    "classify_many",
    "spoken_labels",
]
