"""Calibration: the model's prior over the label names, measured and divided out.

Raw label scores of a small model are dominated by its prior over the label names (measured:
SmolLM2-135M put all 200 SMS of a sample in one class). ``calibrate=True`` (the default)
divides that prior out. The prior is the label distribution the same prompt gives for texts
that carry no label: by default (``calibration="domain"``) bags of words drawn at random from
the task's own text, the few-shot examples and the first batch (domain-context calibration,
Fei et al., 2023); with ``calibration="content_free"``, too little text or one text alone
(``classify(text)``), the inputs "", "N/A" and "[MASK]" (Zhao et al., 2021). The prior is
computed once per Classifier.

A prior close to uniform (total variation from uniform below ``MIN_PRIOR_SKEW``) is left
alone: then the model shows no label bias worth removing, and dividing by a noisy estimate of
it only moves decisions at random. Measured on SpamAssassin subject lines (200, ham/spam):
the shipped Q4_1 file's prior is 0.39/0.61 (TV 0.11); dividing it out cost 7 points (0.705 ->
0.635), while the Q4_0 file's 0.05/0.95 (TV 0.45) calibrated gained 11 (0.545 -> 0.655). The
priors measured on emails, the triage inbox, SNIPS and xSID were all skewed (TV 0.35-0.86).

A bigger model still needs it: Qwen2.5-Coder-1.5B-Instruct on the shipped inbox (25), 60
SpamAssassin emails and their 60 subject lines agreed raw 0.64 / 0.42 / 0.53, domain-calibrated
0.92 / 0.78 / 0.80; content-free calibration gave 0.60 on the inbox, and batch calibration (the
mean of the items' own distributions, Zhou et al., 2024) 0.84 / 0.58 / 0.68. Domain calibration
is the default for every model.

Multi-label classification is calibrated on the content-free inputs only: each label's yes is
compared, as an odds ratio, with its yes-rate for a text that says nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from edgewise.tasks.classify.inputs import is_unicode

CONTENT_FREE = ("", "N/A", "[MASK]")
# word bags for domain calibration: the prior is their mean, and 8 left it noisy. Measured on
# the shipped inbox with Qwen2.5-Coder-1.5B over five random draws: 8 bags 23, 25, 24, 23, 23
# of 25; 16 bags 23, 24, 24, 24, 24; 32 bags no better (23.6 on average)
DOMAIN_SAMPLES = 16
DOMAIN_MIN_WORDS = 40
DOMAIN_MAX_WORDS = 120
MIN_PRIOR_SKEW = 0.2  # total variation from uniform below which the prior is not divided out


def softmax(values: Sequence[float]) -> list[float]:
    """Probabilities from log-probabilities (or any scores), computed stably."""
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def calibration_texts(examples: Sequence[str], texts: Sequence[str]) -> list[str]:
    """Texts whose label distribution is the model's prior for this prompt.

    Domain-context calibration (Fei et al., 2023): bags of words drawn at random from the
    task's own unlabelled text (the examples' texts and the first batch) carry the domain's
    vocabulary but no label, which measures the bias better than "N/A" does. With too little
    text to draw from, or one text alone, the content-free inputs are used.
    """
    corpus = list(examples) + [t for t in texts[:200] if is_unicode(t)]
    words = " ".join(corpus).split()
    # bags of one text's own words carry its label: dividing them out cancels its evidence
    # (a 52-word spam email, alone, came out ham 0.51 instead of spam 0.90)
    if len(corpus) < 2 or len(words) < DOMAIN_MIN_WORDS:
        return list(CONTENT_FREE)
    lengths = sorted(len(t.split()) for t in corpus)
    size = max(3, min(lengths[len(lengths) // 2], DOMAIN_MAX_WORDS))
    rng = random.Random(0)
    return [" ".join(rng.choice(words) for _ in range(size)) for _ in range(DOMAIN_SAMPLES)]


def settle_prior(prior: list[float]) -> tuple[list[float], float]:
    """The prior to divide out, and its skew (total variation from uniform): a prior closer to
    uniform than ``MIN_PRIOR_SKEW`` becomes uniform, so raw scores are kept."""
    skew = 0.5 * sum(abs(q - 1 / len(prior)) for q in prior)
    if skew < MIN_PRIOR_SKEW:  # no bias worth removing: keep raw scores
        prior = [1 / len(prior)] * len(prior)
    return prior, skew


def divide_out(probs: Sequence[float], prior: Sequence[float]) -> list[float]:
    """Single-label probabilities with the prior divided out (renormalized)."""
    return softmax([math.log(p) - math.log(q) for p, q in zip(probs, prior)])


def odds_against(yes: Sequence[float], prior: Sequence[float]) -> list[float]:
    """Multi-label yes-probabilities as odds ratios against each label's content-free
    yes-rate."""
    return [1 / (1 + (1 - y) / max(y, 1e-9) * q / max(1 - q, 1e-9)) for y, q in zip(yes, prior)]
