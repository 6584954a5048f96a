"""The Classifier: a label set, its prompt and its calibration, bound to one engine.

Items of a batch are evaluated together as sequences sharing the prompt prefix
(``Engine.score_batch``), in chunks of about ``CHUNK_TOKENS`` tokens, and the prefix is kept on
disk for the next process (``persist``). Every label is scored as a continuation (multi-token
labels in full); the model never generates an answer to be parsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from edgewise.engines.base import Engine
from edgewise.errors import ContextLengthExceededError, InputError
from edgewise.tasks import text_list
from edgewise.tasks.classify.calibration import (
    CONTENT_FREE,
    calibration_texts,
    divide_out,
    odds_against,
    settle_prior,
    softmax,
)
from edgewise.tasks.classify.inputs import (
    Example,
    check_labels,
    checked_text,
    spoken_labels,
    to_example,
)
from edgewise.tasks.classify.prompt import (
    INSTRUCTION,
    MULTI_FIXED_TOKENS,
    MULTI_INSTRUCTION,
    MULTI_LABEL_TOKENS,
    answer_end,
    item_tokens,
    multi_prompt,
    single_messages,
    split_prompt,
)

CHUNK_TOKENS = 2048  # item tokens per score_batch call: bounds latency per progress tick,
CHUNK_ITEMS = 64  # while short texts still fill whole llama_decode batches

Progress = Callable[[int, int], None]


class Classification(BaseModel):
    """The outcome for one text."""

    label: str | None = Field(description="Most probable label (None only when error is set).")
    scores: dict[str, float] = Field(
        default_factory=dict,
        description="Probability per label: sums to 1 for single-label; independent for multi-label.",
    )
    labels: list[str] = Field(
        default_factory=list,
        description="Labels assigned: the top one (single-label) or all at or above the threshold.",
    )
    abstained: bool = Field(
        default=False, description="True when no label reached the threshold: send to a person."
    )
    confidence: float = Field(default=0.0, description="Probability of the top label.")
    input_tokens: int = Field(default=0, description="Tokens of the item's text the model saw.")
    truncated: bool = Field(default=False, description="The text was cut to the token budget.")
    ms: float = Field(default=0.0, description="Model time for this item (batch time shared).")
    error: str | None = Field(default=None, description="Why the item could not be classified.")


def _chunks(pending: list[tuple[int, list[int]]]) -> Iterator[list[tuple[int, list[int]]]]:
    """Consecutive runs of items holding about CHUNK_TOKENS tokens (at most CHUNK_ITEMS)."""
    chunk: list[tuple[int, list[int]]] = []
    size = 0
    for item in pending:
        if chunk and (size + len(item[1]) > CHUNK_TOKENS or len(chunk) >= CHUNK_ITEMS):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item[1])
    if chunk:
        yield chunk


class Classifier:
    """A label set, its prompt and its calibration, bound to one engine.

    Build it once and call ``classify``/``classify_many`` repeatedly: the prefix stays warm in
    the engine's cache and the calibration is computed once.
    """

    def __init__(
        self,
        engine: Engine,
        labels: Sequence[str],
        *,
        descriptions: Mapping[str, str] | None = None,
        examples: Sequence[Example | Mapping[str, Any] | tuple[str, str]] | None = None,
        multi_label: bool = False,
        threshold: float | None = None,
        max_input_tokens: int | None = None,
        calibrate: bool = True,
        calibration: str = "domain",
        instruction: str | None = None,
    ) -> None:
        self.engine = engine
        self.labels = check_labels(labels, multi_label)
        self._spoken = dict(zip(self.labels, spoken_labels(self.labels)))
        if descriptions is not None and not isinstance(descriptions, Mapping):
            raise InputError("descriptions must map each label to its description")
        self.descriptions = dict(descriptions or {})
        for name, desc in self.descriptions.items():
            if name not in self.labels:
                raise InputError(f"description given for {name!r}, which is not a label")
            if not isinstance(desc, str):
                raise InputError(f"the description of {name!r} must be a string")
        self.examples = [to_example(e, self.labels) for e in (examples or [])]
        if multi_label and self.examples:  # its yes/no questions have no place for them
            raise InputError("few-shot examples are not used for multi-label classification")
        self.multi_label = multi_label
        if threshold is not None and (
            not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0
        ):
            raise InputError(f"threshold must be between 0 and 1, not {threshold}")
        self.threshold = threshold
        if max_input_tokens is not None and (
            not isinstance(max_input_tokens, int)
            or isinstance(max_input_tokens, bool)
            or max_input_tokens < 1
        ):
            raise InputError(
                f"max_input_tokens must be a whole number, at least 1, not {max_input_tokens!r}"
            )
        self.max_input_tokens = max_input_tokens
        if calibration not in ("domain", "content_free"):
            raise InputError(f"calibration must be 'domain' or 'content_free', not {calibration!r}")
        self.calibrate = calibrate
        self.calibration = calibration
        self.instruction = instruction or (MULTI_INSTRUCTION if multi_label else INSTRUCTION)
        self._prior: list[float] | None = None
        self.prior_skew: float | None = None  # the measured prior's distance from uniform
        self._prefix: list[int] = []  # multi-label prompts hold the item: no shared prefix
        self._suffix: list[int] = []
        if multi_label:
            self._answers = ["yes", "no"] if engine.chat_mode else [" yes", " no"]
            self._conts: list[list[int]] = [engine.tokenize(a) for a in self._answers]
        else:
            # a label is scored with the end of the answer after it, so "sp" is not read as
            # "spam" and a label that is the start of a likelier word is not preferred
            end = answer_end(engine)
            self._conts = [
                engine.tokenize(lab if engine.chat_mode else " " + lab) + end
                for lab in self._spoken.values()
            ]
            messages = single_messages(
                engine,
                self.instruction,
                self.labels,
                self._spoken,
                self.descriptions,
                self.examples,
            )
            self._prefix, self._suffix = split_prompt(engine, messages)
        self._reserve = max(len(c) for c in self._conts) + 8
        fixed = len(self._prefix) + len(self._suffix) + self._reserve
        if multi_label:  # the instructions and one question per label share the context
            fixed = MULTI_FIXED_TOKENS + len(self.labels) * MULTI_LABEL_TOKENS
        if fixed + 16 > engine.n_ctx:  # no room left for the items' text
            fewer = "labels" if multi_label else "or shorter examples or descriptions"
            raise InputError(
                f"the instructions, labels and examples take about {fixed} tokens of the "
                f"{engine.n_ctx}-token context: give fewer {fewer}, "
                "or a larger context (n_ctx, or EDGEWISE_N_CTX)"
            )

    @property
    def prefix_tokens(self) -> int:
        """Tokens of the prompt before each item's text (instructions, labels, examples),
        evaluated once and shared by every item (0 for multi-label, whose prompt holds the
        item)."""
        return len(self._prefix)

    # ------------------------------------------------------------------ single-label
    def _probs(self, row: Sequence[Any]) -> list[float]:
        return softmax([s.logprob for s in row])

    def _prior_single(self, texts: Sequence[str] = ()) -> list[float]:
        """The label prior, computed once (on the first call's texts) and kept."""
        if self._prior is None:
            if self.calibration == "domain":
                sources = calibration_texts([ex.text for ex in self.examples], texts)
            else:
                sources = list(CONTENT_FREE)
            budget = self.max_input_tokens or self.engine.n_ctx // 4
            items = [self.engine.tokenize(t)[:budget] + self._suffix for t in sources]
            rows = self.engine.score_batch(self._prefix, items, self._conts, persist=True)
            probs = [self._probs(r) for r in rows]
            prior = [sum(p[k] for p in probs) / len(probs) for k in range(len(self.labels))]
            self._prior, self.prior_skew = settle_prior(prior)
        return self._prior

    def _decide(self, probs: list[float], result: Classification) -> None:
        scores = dict(zip(self.labels, probs))
        best = max(range(len(probs)), key=probs.__getitem__)
        result.label = self.labels[best]
        result.scores = {k: round(v, 6) for k, v in scores.items()}
        result.confidence = round(probs[best], 6)
        if self.multi_label:
            if self.threshold is None:  # more likely than for a content-free text
                result.labels = [lab for lab in self.labels if scores[lab] > 0.5 + 1e-6]
            else:
                result.labels = [lab for lab in self.labels if scores[lab] >= self.threshold]
            result.abstained = not result.labels
        else:
            result.abstained = self.threshold is not None and probs[best] < self.threshold
            result.labels = [] if result.abstained else [result.label]

    def _run_single(self, texts: Sequence[str], progress: Progress | None) -> list[Classification]:
        prior = self._prior_single(texts) if self.calibrate else None
        room = self.engine.n_ctx - len(self._prefix) - len(self._suffix) - self._reserve
        results = [Classification(label=None) for _ in texts]
        pending: list[tuple[int, list[int]]] = []
        for i, raw in enumerate(texts):
            text, problem = checked_text(raw)
            if problem is not None:
                results[i].error = problem
                continue
            try:
                toks, n, cut = item_tokens(self.engine, text, room, self.max_input_tokens)
            except ContextLengthExceededError as exc:
                results[i].error = str(exc)
                continue
            results[i].input_tokens, results[i].truncated = n, cut
            pending.append((i, toks + self._suffix))
        done = len(texts) - len(pending)
        # in token order, so items that start alike share a chunk and their leading tokens
        # are evaluated once (see LlamaCppEngine.score_batch); results keep the input order
        pending.sort(key=lambda p: p[1])
        # the calibration is done: the bar can start (and ends here when no item is valid)
        if progress is not None and texts:
            progress(done, len(texts))
        for chunk in _chunks(pending):
            t0 = time.perf_counter()
            rows = self.engine.score_batch(
                self._prefix, [t for _, t in chunk], self._conts, persist=True
            )
            ms = (time.perf_counter() - t0) * 1000 / len(chunk)
            for (i, _), row in zip(chunk, rows):
                probs = self._probs(row)
                if prior is not None:
                    probs = divide_out(probs, prior)
                self._decide(probs, results[i])
                results[i].ms = round(ms, 2)
            done += len(chunk)
            if progress is not None:
                progress(done, len(texts))
        return results

    # ------------------------------------------------------------------ multi-label
    def _yes(self, text: str) -> list[float]:
        prefix, items = multi_prompt(
            self.engine, self.instruction, self.labels, self._spoken, self.descriptions, text
        )
        rows = self.engine.score_batch(prefix, items, self._answers)
        return [self._probs(r)[0] for r in rows]

    def _multi_prior(self) -> None:
        cf = [self._yes(t or "N/A") for t in CONTENT_FREE]
        self._prior = [sum(c[k] for c in cf) / len(cf) for k in range(len(self.labels))]

    def _run_multi(self, texts: Sequence[str], progress: Progress | None) -> list[Classification]:
        if self.calibrate and self._prior is None:
            self._multi_prior()
        results = []
        for n, raw in enumerate(texts, 1):
            result = Classification(label=None)
            text, result.error = checked_text(raw)
            if result.error is None:
                room = (
                    self.engine.n_ctx - MULTI_FIXED_TOKENS - len(self.labels) * MULTI_LABEL_TOKENS
                )
                toks, result.input_tokens, result.truncated = item_tokens(
                    self.engine, text, room, self.max_input_tokens
                )
                t0 = time.perf_counter()
                yes = self._yes(self.engine.detokenize(toks) if result.truncated else text)
                result.ms = round((time.perf_counter() - t0) * 1000, 2)
                if self._prior is not None:
                    # odds ratio against the content-free yes-rate of each label
                    yes = odds_against(yes, self._prior)
                self._decide(yes, result)
            results.append(result)
            if progress is not None:
                progress(n, len(texts))
        return results

    # ------------------------------------------------------------------ public
    def prepare(self, texts: Sequence[str] = ()) -> None:
        """Compute the calibration now, from ``texts`` (domain calibration draws its word bags
        from them and the examples); otherwise the first ``classify_many`` call does it."""
        if not self.calibrate or self._prior is not None:
            return
        if self.multi_label:
            self._multi_prior()
        else:
            self._prior_single([t for t in texts if isinstance(t, str)])

    def classify(self, text: str) -> Classification:
        """Classify one text. Empty text is an InputError."""
        result = self.classify_many([text])[0]
        if result.error:
            raise InputError(result.error)
        return result

    def classify_many(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> list[Classification]:
        """Classify many texts; a bad item gets ``error`` set and the rest go on."""
        texts = text_list(texts, "classify_many")
        if self.multi_label:
            return self._run_multi(texts, progress)
        return self._run_single(texts, progress)


def classify(
    text: str,
    labels: Sequence[str],
    *,
    engine: Engine | None = None,
    descriptions: Mapping[str, str] | None = None,
    examples: Sequence[Example | Mapping[str, Any] | tuple[str, str]] | None = None,
    multi_label: bool = False,
    threshold: float | None = None,
    max_input_tokens: int | None = None,
    calibrate: bool = True,
    calibration: str = "domain",
) -> Classification:
    """Classify ``text`` into ``labels`` (see ``Classifier`` for the method).

    With a user's corrections: ``edgewise.classify(..., profile=...)``
    (``edgewise.personal.learn``), which calls this without one.
    """
    from edgewise.tasks import default_engine

    return Classifier(
        engine or default_engine(),
        labels,
        descriptions=descriptions,
        examples=examples,
        multi_label=multi_label,
        threshold=threshold,
        max_input_tokens=max_input_tokens,
        calibrate=calibrate,
        calibration=calibration,
    ).classify(text)


def classify_many(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    engine: Engine | None = None,
    descriptions: Mapping[str, str] | None = None,
    examples: Sequence[Example | Mapping[str, Any] | tuple[str, str]] | None = None,
    multi_label: bool = False,
    threshold: float | None = None,
    max_input_tokens: int | None = None,
    calibrate: bool = True,
    calibration: str = "domain",
    progress: Progress | None = None,
) -> list[Classification]:
    """Classify many texts, evaluating the shared prompt prefix once (with a profile:
    ``edgewise.classify_many``)."""
    from edgewise.tasks import default_engine

    return Classifier(
        engine or default_engine(),
        labels,
        descriptions=descriptions,
        examples=examples,
        multi_label=multi_label,
        threshold=threshold,
        max_input_tokens=max_input_tokens,
        calibrate=calibrate,
        calibration=calibration,
    ).classify_many(texts, progress=progress)
