"""Classify and route text by scoring label continuations, calibrated, with abstention.

The model never generates an answer to be parsed. The instructions, the label list with
descriptions and the few-shot examples form one prompt prefix, evaluated once and kept in the
engine's KV cache; each item's text follows it, and every label is scored as a continuation
(multi-token labels in full). Items of a batch are evaluated together as sequences sharing the
prefix (``Engine.score_batch``), and the prefix is kept on disk for the next process
(``persist``).

Raw label scores of a small model are dominated by its prior over the label names (measured:
SmolLM2-135M put all 200 SMS of a sample in one class). ``calibrate=True`` (the default)
divides that prior out. The prior is the label distribution the same prompt gives for texts
that carry no label: by default (``calibration="domain"``) bags of words drawn at random from
the task's own text, the few-shot examples and the first batch (domain-context calibration,
Fei et al., 2023); with ``calibration="content_free"``, too little text or one text alone
(``classify(text)``), the inputs "",
"N/A" and "[MASK]" (Zhao et al., 2021). The prior is computed once per Classifier.

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
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from edgewise.engines.base import Engine
from edgewise.errors import ContextLengthExceededError, InputError, check_unicode
from edgewise.tasks import text_list
from edgewise.types import Message

SENTINEL = "\u2063EDGEWISE_ITEM\u2063"
CONTENT_FREE = ("", "N/A", "[MASK]")
INSTRUCTION = "Classify the text into exactly one of the labels below."
MULTI_INSTRUCTION = "Decide whether the text belongs to a label."
EXAMPLE_TOKENS = 128  # budget for the text of each few-shot example
CHUNK_TOKENS = 2048  # item tokens per score_batch call: bounds latency per progress tick,
CHUNK_ITEMS = 64  # while short texts still fill whole llama_decode batches
# word bags for domain calibration: the prior is their mean, and 8 left it noisy. Measured on
# the shipped inbox with Qwen2.5-Coder-1.5B over five random draws: 8 bags 23, 25, 24, 23, 23
# of 25; 16 bags 23, 24, 24, 24, 24; 32 bags no better (23.6 on average)
DOMAIN_SAMPLES = 16
DOMAIN_MIN_WORDS = 40
DOMAIN_MAX_WORDS = 120
MULTI_FIXED_TOKENS = 200  # a multi-label prompt's instructions, before the text
MULTI_LABEL_TOKENS = 40  # per label: its line in the instructions and its question
MIN_PRIOR_SKEW = 0.2  # total variation from uniform below which the prior is not divided out

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


class Example(BaseModel):
    text: str
    label: str


def _clean(text: str) -> str:
    """Line endings normalized, trailing spaces and repeated blank lines dropped.

    Runs of spaces inside a line are kept: they are evidence. Measured on 492 SpamAssassin
    subject lines (shipped model), collapsing them cost 2.8 points (0.691 -> 0.663): spam
    pads its subjects with spaces before a tracking code.
    """
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


_CAMEL = re.compile(r"^(?:[A-Z][a-z0-9]+|[a-z][a-z0-9]+)(?:[A-Z][a-z0-9]+)+$")  # not "iPhone"


def spoken_labels(labels: Sequence[str]) -> list[str]:
    """Labels as the model reads and answers them: paths and CamelCase identifiers become
    words ("weather/find" -> "weather: find", "BookRestaurant" -> "book restaurant"); other
    labels stay as they are.

    Models know words better than identifiers. Measured zero-shot on xSID intents (60 items,
    "alarm/set_alarm" style) with all identifiers spelled as words: Qwen2.5-Coder-1.5B 0.93 ->
    0.98, SmolLM2-135M 0.30 -> 0.53. Underscores are kept: spelling "card_arrival" as "card
    arrival" left banking77 where it was (0.50 and 0.13), and "needs human" cost the 1.5B two
    of the 25 inbox messages. When two labels would read alike, all keep their names.
    """
    out = []
    for lab in labels:
        text = lab
        if not re.search(r"\s", lab):  # an identifier, not a phrase ("A/B test" stays)
            if _CAMEL.match(lab):
                text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", lab)
            text = re.sub(r"/+", ": ", text).strip(" :")
            text = " ".join(text.split())
        out.append(text.lower() if text != lab else lab)
    if len({o.casefold() for o in out}) != len(out) or any(not o for o in out):
        return list(labels)
    return out


def _unicode(text: object) -> bool:
    """A string that can be tokenized (no lone surrogate)."""
    try:
        return isinstance(text, str) and bool(text.encode("utf-8"))
    except UnicodeEncodeError:
        return False


def _checked(raw: object) -> tuple[str, str | None]:
    """An item's cleaned text, and why it cannot be classified (None when it can)."""
    if not isinstance(raw, str):
        return "", f"a text must be a string, not {type(raw).__name__}"
    text = _clean(raw)
    if not text:
        return text, "empty text"
    try:
        check_unicode(text)
    except InputError as exc:
        return text, str(exc)
    return text, None


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


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


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
        self.labels = self._check_labels(labels, multi_label)
        self._spoken = dict(zip(self.labels, spoken_labels(self.labels)))
        if descriptions is not None and not isinstance(descriptions, Mapping):
            raise InputError("descriptions must map each label to its description")
        self.descriptions = dict(descriptions or {})
        for name, desc in self.descriptions.items():
            if name not in self.labels:
                raise InputError(f"description given for {name!r}, which is not a label")
            if not isinstance(desc, str):
                raise InputError(f"the description of {name!r} must be a string")
        self.examples = [self._example(e) for e in (examples or [])]
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
            end = self._answer_end()
            self._conts = [
                engine.tokenize(lab if engine.chat_mode else " " + lab) + end
                for lab in self._spoken.values()
            ]
            self._prefix, self._suffix = self._split(self._single_messages())
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

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _check_labels(labels: Sequence[str], multi_label: bool) -> list[str]:
        if isinstance(labels, str):
            labels = [p.strip() for p in labels.split(",")]
        if not isinstance(labels, Iterable):
            raise InputError(f"labels must be a list of strings, not {type(labels).__name__}")
        labels = list(labels)
        # str(None) would make "None" a label
        if any(not isinstance(lab, str) or not lab.strip() for lab in labels):
            raise InputError("labels must be non-empty strings")
        out = [lab.strip() for lab in labels]
        if len(set(out)) != len(out):
            raise InputError(f"labels must be unique: {out}")
        if len(out) < (1 if multi_label else 2):
            raise InputError(
                "give at least two labels (one is enough for multi-label classification)"
            )
        return out

    def _example(self, ex: Example | Mapping[str, Any] | tuple[str, str]) -> Example:
        try:
            if isinstance(ex, Example):
                example = ex
            elif isinstance(ex, tuple):
                example = Example(text=ex[0], label=ex[1])
            else:
                example = Example.model_validate(ex)
        except Exception:
            raise InputError(
                f"an example must have 'text' and 'label' as strings: {ex!r}"
            ) from None
        if example.label not in self.labels:
            raise InputError(f"example label {example.label!r} is not one of {self.labels}")
        return example

    # ------------------------------------------------------------------ prompt
    def _label_block(self) -> str:
        lines = []
        for lab in self.labels:
            desc = self.descriptions.get(lab)
            shown = self._spoken[lab]
            lines.append(f"- {shown}: {desc}" if desc else f"- {shown}")
        return "Labels:\n" + "\n".join(lines)

    def _budget_text(self, text: str, budget: int) -> str:
        toks = self.engine.tokenize(text)
        return text if len(toks) <= budget else self.engine.detokenize(toks[:budget])

    def _single_messages(self) -> list[Message]:
        system = f"{self.instruction}\n\n{self._label_block()}\n\nAnswer with the label only."
        if not self.engine.chat_mode:
            parts = [system, ""]
            for ex in self.examples:
                parts.append(
                    f"Text: {self._budget_text(_clean(ex.text), EXAMPLE_TOKENS)}\n"
                    f"Label: {self._spoken[ex.label]}\n"
                )
            parts.append(f"Text: {SENTINEL}\nLabel:")
            return [Message(role="user", content="\n".join(parts))]
        msgs = [Message(role="system", content=system)]
        for ex in self.examples:
            text = self._budget_text(_clean(ex.text), EXAMPLE_TOKENS)
            msgs.append(Message(role="user", content=f"Text:\n{text}"))
            msgs.append(Message(role="assistant", content=self._spoken[ex.label]))
        msgs.append(Message(role="user", content=f"Text:\n{SENTINEL}"))
        return msgs

    def _answer_end(self) -> list[int]:
        """The token that closes an answer: the chat template's end of turn (its first token
        after the assistant's text), or the newline of the plain "Label: x" format."""
        if not self.engine.chat_mode:
            return self.engine.tokenize("\n")
        msgs = [
            Message(role="user", content="x"),
            Message(role="assistant", content=SENTINEL),
        ]
        rendered = self.engine.render(msgs, add_generation_prompt=False)
        _, _, tail = rendered.partition(SENTINEL)
        return self.engine.tokenize(tail, special=True)[:1] if tail else []

    def _split(self, messages: list[Message]) -> tuple[list[int], list[int]]:
        """Prefix tokens before the item's text and the template tokens after it."""
        if self.engine.chat_mode:
            rendered = self.engine.render(messages)
        else:
            rendered = messages[0].content
        head, _, tail = rendered.partition(SENTINEL)
        prefix = self.engine.prompt_tokens(head, rendered=self.engine.chat_mode)
        suffix = self.engine.tokenize(tail, special=self.engine.chat_mode)
        return prefix, suffix

    def _item_tokens(self, text: str, room: int) -> tuple[list[int], int, bool]:
        toks = self.engine.tokenize(text)
        budget = min(room, self.max_input_tokens or room)
        if budget < 1:
            raise ContextLengthExceededError(len(toks), self.engine.n_ctx)
        cut = len(toks) > budget
        return toks[:budget], min(len(toks), budget), cut

    # ------------------------------------------------------------------ single-label
    def _probs(self, row: Sequence[Any]) -> list[float]:
        return _softmax([s.logprob for s in row])

    def _calibration_texts(self, texts: Sequence[str]) -> list[str]:
        """Texts whose label distribution is the model's prior for this prompt.

        Domain-context calibration (Fei et al., 2023): bags of words drawn at random from the
        task's own unlabelled text (the examples and the first batch) carry the domain's
        vocabulary but no label, which measures the bias better than "N/A" does. With too
        little text to draw from, or one text alone, the content-free inputs are used.
        """
        corpus = [ex.text for ex in self.examples] + [t for t in texts[:200] if _unicode(t)]
        words = " ".join(corpus).split()
        # bags of one text's own words carry its label: dividing them out cancels its evidence
        # (a 52-word spam email, alone, came out ham 0.51 instead of spam 0.90)
        if len(corpus) < 2 or len(words) < DOMAIN_MIN_WORDS:
            return list(CONTENT_FREE)
        lengths = sorted(len(t.split()) for t in corpus)
        size = max(3, min(lengths[len(lengths) // 2], DOMAIN_MAX_WORDS))
        rng = random.Random(0)
        return [" ".join(rng.choice(words) for _ in range(size)) for _ in range(DOMAIN_SAMPLES)]

    def _prior_single(self, texts: Sequence[str] = ()) -> list[float]:
        """The label prior, computed once (on the first call's texts) and kept."""
        if self._prior is None:
            if self.calibration == "domain":
                sources = self._calibration_texts(texts)
            else:
                sources = list(CONTENT_FREE)
            budget = self.max_input_tokens or self.engine.n_ctx // 4
            items = [self.engine.tokenize(t)[:budget] + self._suffix for t in sources]
            rows = self.engine.score_batch(self._prefix, items, self._conts, persist=True)
            probs = [self._probs(r) for r in rows]
            prior = [sum(p[k] for p in probs) / len(probs) for k in range(len(self.labels))]
            self.prior_skew = 0.5 * sum(abs(q - 1 / len(prior)) for q in prior)
            if self.prior_skew < MIN_PRIOR_SKEW:  # no bias worth removing: keep raw scores
                prior = [1 / len(prior)] * len(prior)
            self._prior = prior
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
            text, problem = _checked(raw)
            if problem is not None:
                results[i].error = problem
                continue
            try:
                toks, n, cut = self._item_tokens(text, room)
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
                    probs = _softmax([math.log(p) - math.log(q) for p, q in zip(probs, prior)])
                self._decide(probs, results[i])
                results[i].ms = round(ms, 2)
            done += len(chunk)
            if progress is not None:
                progress(done, len(texts))
        return results

    # ------------------------------------------------------------------ multi-label
    def _multi_prefix(self, text: str) -> tuple[list[int], list[list[int]]]:
        """Prefix = instruction + the text; one short question per label after it."""
        system = f"{self.instruction}\n\n{self._label_block()}"
        questions = []
        for lab in self.labels:
            desc = self.descriptions.get(lab)
            about = f" ({desc})" if desc else ""
            questions.append(
                f"Does the text belong to the label '{self._spoken[lab]}'{about}? Answer yes or no."
            )
        if self.engine.chat_mode:
            msgs = [
                Message(role="system", content=system),
                Message(role="user", content=f"Text:\n{SENTINEL}"),
            ]
            head, _, tail = self.engine.render(msgs).partition(SENTINEL)
            prefix = self.engine.prompt_tokens(head, rendered=True) + self.engine.tokenize(text)
            items = [
                self.engine.tokenize("\n\n" + q) + self.engine.tokenize(tail, special=True)
                for q in questions
            ]
        else:
            prefix = self.engine.prompt_tokens(f"{system}\n\nText: ") + self.engine.tokenize(text)
            items = [self.engine.tokenize(f"\n{q}\nAnswer:") for q in questions]
        return prefix, items

    def _yes(self, text: str) -> list[float]:
        prefix, items = self._multi_prefix(text)
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
            text, result.error = _checked(raw)
            if result.error is None:
                room = (
                    self.engine.n_ctx - MULTI_FIXED_TOKENS - len(self.labels) * MULTI_LABEL_TOKENS
                )
                toks, result.input_tokens, result.truncated = self._item_tokens(text, room)
                t0 = time.perf_counter()
                yes = self._yes(self.engine.detokenize(toks) if result.truncated else text)
                result.ms = round((time.perf_counter() - t0) * 1000, 2)
                if self._prior is not None:
                    # odds ratio against the content-free yes-rate of each label
                    yes = [
                        1 / (1 + (1 - y) / max(y, 1e-9) * q / max(1 - q, 1e-9))
                        for y, q in zip(yes, self._prior)
                    ]
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
    profile: Any = None,
) -> Classification:
    """Classify ``text`` into ``labels`` (see ``Classifier`` for the method).

    With ``profile`` (a ``Profile`` or its name) the user's past corrections add their
    evidence and serve as few-shot examples (``edgewise.personal.learn``).
    """
    from edgewise.tasks import default_engine

    options: dict[str, Any] = dict(
        descriptions=descriptions,
        multi_label=multi_label,
        threshold=threshold,
        max_input_tokens=max_input_tokens,
        calibrate=calibrate,
        calibration=calibration,
    )
    if profile is not None:
        from edgewise.personal.learn import PersonalClassifier

        if examples:
            options["examples"] = examples
        return PersonalClassifier(engine or default_engine(), labels, profile, **options).classify(
            text
        )
    return Classifier(engine or default_engine(), labels, examples=examples, **options).classify(
        text
    )


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
    profile: Any = None,
) -> list[Classification]:
    """Classify many texts, evaluating the shared prompt prefix once (``profile``: see
    ``classify``)."""
    from edgewise.tasks import default_engine

    options: dict[str, Any] = dict(
        descriptions=descriptions,
        multi_label=multi_label,
        threshold=threshold,
        max_input_tokens=max_input_tokens,
        calibrate=calibrate,
        calibration=calibration,
    )
    if profile is not None:
        from edgewise.personal.learn import PersonalClassifier

        if examples:
            options["examples"] = examples
        return PersonalClassifier(
            engine or default_engine(), labels, profile, **options
        ).classify_many(texts, progress=progress)
    return Classifier(
        engine or default_engine(), labels, examples=examples, **options
    ).classify_many(texts, progress=progress)
