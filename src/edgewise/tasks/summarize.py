"""Summarize text: tl;dr, key points, headline or teaser, in three lengths, any input length.

Each (type, length) has a budget: sentences for tl;dr and teaser, bullet points for key_points
(enforced by a grammar: an array with at most N short strings), words for a headline. Output
over budget is cut at a sentence or word boundary, so a summary never exceeds it.

Input longer than the context window is never silently truncated: it is split on paragraph
boundaries (then sentences, then tokens for a single enormous sentence), each piece is
summarized as key points (map), and the points are summarized into the requested type (reduce),
recursively if the points themselves do not fit. ``progress(done, total)`` reports the pieces.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from edgewise.engines.base import Engine
from edgewise.errors import InputError
from edgewise.languages import check_language, detect_language, language_name
from edgewise.types import GenerationOptions, Message

SummaryType = Literal["tldr", "key_points", "headline", "teaser"]
SummaryLength = Literal["short", "medium", "long"]
Progress = Callable[[int, int], None]

# budget per type and length: sentences (tldr, teaser), points (key_points), words (headline)
BUDGETS: dict[str, dict[str, int]] = {
    "tldr": {"short": 1, "medium": 3, "long": 5},
    "teaser": {"short": 1, "medium": 2, "long": 4},
    "key_points": {"short": 3, "medium": 5, "long": 7},
    "headline": {"short": 10, "medium": 14, "long": 20},
}
UNITS = {"tldr": "sentences", "teaser": "sentences", "key_points": "points", "headline": "words"}
TOKENS_PER_UNIT = {"sentences": 40, "points": 36, "words": 4}  # words: 3 in English, more elsewhere
POINT_CHARS = 160
POINT_TOKENS = 48  # a 160-character point is about 40 tokens, plus JSON punctuation
_STOPS, _CLOSERS = r"[.!?\u3002\uff01\uff1f]", r"[\"'\u201d\u00bb)]*"
_END = _STOPS + _CLOSERS  # a sentence's end, closing quotes included
_SENTENCE = re.compile(rf"(?<={_STOPS}){_CLOSERS}\s+")

ASK = {
    "tldr": "Summarize the text in at most {n} sentence(s).",
    "teaser": "Write a teaser of at most {n} sentence(s) that makes a reader want to read the text, "
    "without giving away its ending.",
    "key_points": "List the key points of the text, at most {n}, each one short.",
    "headline": "Write a headline for the text, at most {n} words, on one line.",
}


class Summary(BaseModel):
    """A summary and how it was made."""

    text: str = Field(description="The summary (key points as '- ' bullet lines).")
    type: str
    length: str
    points: list[str] | None = Field(default=None, description="The key points, for key_points.")
    input_tokens: int = 0
    pieces: int = Field(default=1, description="1, or how many pieces a long input was split into.")
    ms: float = 0.0


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


# articles, prepositions and conjunctions a cut headline does not end on ("... network by");
# no word that is also a content word elsewhere ("no", "die", "over", "do", "den", "am")
_DANGLING = frozenset(
    """a an the of to in on at for by with from and or but as into than its their his her our
    de del la el los las un una y o en con por para al du des le les une et ou au aux pour par
    sur avec der das dem ein eine einen und oder im auf für mit von zu zum zur bei nach über di
    della il lo gli e da su dos os uma na""".split()
)


def _headline_end(words: list[str]) -> list[str]:
    """A headline cut to its word budget, ended where a reader can stop: after its last
    clause or sentence in the budget, else without dangling function words."""
    for i in range(len(words) - 1, 2, -1):  # at least three words kept
        prev = words[i - 1]
        # a clause or sentence ends there; "U.S." is an abbreviation, not a sentence's end
        ends = re.search(r"[!?;:,]$", prev) or (prev.endswith(".") and "." not in prev[:-1])
        if ends or words[i] in ("-", "\u2013", "\u2014", "|"):
            return [*words[: i - 1], prev.rstrip(".;:,")]
    while len(words) > 3 and words[-1].casefold().strip(",;:") in _DANGLING:
        words = words[:-1]
    return words


def fit_budget(text: str, unit: str, n: int, *, cut: bool = False) -> str:
    """Cut ``text`` to at most ``n`` sentences or words (whole units only). ``cut``: the
    generation stopped at its token limit, so its last word, or its last sentence when it
    does not end one and a whole one comes before, is unfinished and dropped. A headline cut
    short ends at its last clause in the budget, or without a dangling "of the"."""
    text = " ".join(text.split())
    words = text.split(" ")
    over = cut or len(words) > n
    if cut and len(words) > 1:
        words = words[:-1]  # "... abiertos hast"
        text = " ".join(words)
    if unit == "words":
        kept = _headline_end(words[:n]) if over else words
        return " ".join(kept).strip(" ,;:-")
    sentences = split_sentences(text)
    if cut and len(sentences) > 1 and not re.search(_END + "$", text):
        sentences = sentences[:-1]
    return " ".join(sentences[:n])


class Summarizer:
    """Summaries of one type and length, bound to an engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        type: SummaryType = "tldr",
        length: SummaryLength = "medium",
        language: str | None = None,
        context: str | None = None,
    ) -> None:
        # isinstance first: a list is unhashable, and `in` on a dict would raise TypeError
        if not isinstance(type, str) or type not in BUDGETS:
            raise InputError(f"unknown summary type {type!r}; use one of {', '.join(BUDGETS)}")
        if not isinstance(length, str) or length not in BUDGETS[type]:
            raise InputError(f"unknown length {length!r}; use short, medium or long")
        for name, value in (("language", language), ("context", context)):
            if value is not None and not isinstance(value, str):
                raise InputError(f"{name} must be a string, not {value.__class__.__name__}")
        self.engine = engine
        self.type, self.length = type, length
        self.language = check_language(language) if language else None
        self.context = context
        self.unit = UNITS[type]
        self.n = BUDGETS[type][length]

    # ------------------------------------------------------------------ prompts
    def _system(self, kind: str, n: int, text: str = "") -> str:
        lines = ["You write accurate, concise summaries. Use only facts from the text."]
        found = None if self.language else detect_language(text)
        if self.language:
            lines.append(f"Write in {self.language}.")
        elif found is not None:  # named: small models ignore "the same language as the text"
            lines.append(f"Write in {language_name(found)}, the language of the text.")
        else:
            lines.append("Write in the same language as the text.")
        if self.context:
            lines.append(f"Context: {self.context}")
        return "\n".join(lines)

    def _generate(self, kind: str, n: int, text: str) -> tuple[str, list[str] | None]:
        unit = UNITS[kind]
        max_tokens = TOKENS_PER_UNIT[unit] * n + 16
        # the request comes after the text: small models follow the last instruction they read
        ask = ASK[kind].format(n=n)
        msgs = [
            Message(role="system", content=self._system(kind, n, text)),
            Message(role="user", content=f"{text}\n\n---\n{ask}"),
        ]
        prompt: Any = msgs
        if not self.engine.chat_mode:
            prompt = f"{msgs[0].content}\n\n{text}\n\n---\n{ask}\n"
        if kind == "key_points":
            schema = {
                "type": "object",
                "properties": {
                    "points": {
                        "type": "array",
                        "items": {"type": "string", "minLength": 12, "maxLength": POINT_CHARS},
                        "minItems": 1,
                        "maxItems": n,
                    }
                },
                "required": ["points"],
            }
            opts = GenerationOptions.parse(
                {"max_tokens": n * POINT_TOKENS + 32, "temperature": 0.0}
            )
            out = self.engine.generate(prompt, opts, schema=schema)
            import json

            try:
                points = [" ".join(p.split()) for p in json.loads(out.text)["points"]]
            except (ValueError, KeyError, TypeError):
                points = [p for p in split_sentences(out.text)][:n]  # cut off by max_tokens
            # a model may number its points ("1. ...", "- ...") inside the JSON strings, or
            # repeat one: the markers go, and a point is kept once
            points = [re.sub(r"^(?:[-*\u2022]|\d{1,2}[.)])\s+", "", p) for p in points]
            kept: dict[str, str] = {}
            for p in points:
                if p:
                    kept.setdefault(p.casefold(), p)
            points = list(kept.values())[:n]
            return "\n".join(f"- {p}" for p in points), points
        stop = ["\n"] if kind == "headline" else ["\n\n"]
        opts = GenerationOptions.parse(
            {"max_tokens": max_tokens, "temperature": 0.0, "stop": stop, "repeat_penalty": 1.1}
        )
        out = self.engine.generate(prompt, opts)
        raw = out.text.strip()
        if kind == "headline":
            raw = raw.strip("#*\"' ")
        return fit_budget(raw, unit, n, cut=out.finish_reason == "length"), None

    # ------------------------------------------------------------------ long input
    def _room(self) -> int:
        """Tokens of input one call can take."""
        overhead = self.engine.count_tokens(self._system("key_points", 7)) + 48
        mapped = BUDGETS["key_points"]["medium"] * POINT_TOKENS + 32
        out = max(TOKENS_PER_UNIT[self.unit] * self.n + 16, self.n * POINT_TOKENS + 32, mapped)
        room = self.engine.n_ctx - overhead - out
        if room < 64:
            raise InputError(f"a {self.engine.n_ctx}-token context leaves no room to summarize")
        return room

    def split(self, text: str, room: int) -> list[str]:
        """Pieces of at most ``room`` tokens, cut at paragraphs, then sentences, then tokens."""
        pieces: list[str] = []
        current: list[str] = []
        size = 0

        def units(block: str) -> list[str]:
            if self.engine.count_tokens(block) <= room:
                return [block]
            sentences = split_sentences(block)
            if len(sentences) > 1:
                return [u for s in sentences for u in units(s)]
            toks = self.engine.tokenize(block)
            return [self.engine.detokenize(toks[i : i + room]) for i in range(0, len(toks), room)]

        for para in re.split(r"\n\s*\n", text):
            for unit in units(para.strip()) if para.strip() else []:
                n = self.engine.count_tokens(unit) + 2
                if current and size + n > room:
                    pieces.append("\n\n".join(current))
                    current, size = [], 0
                current.append(unit)
                size += n
        if current:
            pieces.append("\n\n".join(current))
        return pieces

    def summarize(self, text: str, *, progress: Progress | None = None) -> Summary:
        if not isinstance(text, str) or not text.strip():
            raise InputError("empty text: nothing to summarize")
        t0 = time.perf_counter()
        text = text.strip()
        n_tokens = self.engine.count_tokens(text)
        room = self._room()
        pieces = 1
        if n_tokens > room:
            parts = self.split(text, room)
            pieces = len(parts)
            points: list[str] = []
            for i, part in enumerate(parts, 1):
                _, got = self._generate("key_points", BUDGETS["key_points"]["medium"], part)
                points += got or []
                if progress is not None:
                    progress(i, len(parts))
            text = "\n".join(f"- {p}" for p in points)
            while self.engine.count_tokens(text) > room:  # reduce again
                parts = self.split(text, room)
                points = []
                for part in parts:
                    points += (
                        self._generate("key_points", BUDGETS["key_points"]["short"], part)[1] or []
                    )
                text = "\n".join(f"- {p}" for p in points)
        elif progress is not None:
            progress(1, 1)
        out, points_out = self._generate(self.type, self.n, text)
        return Summary(
            text=out,
            type=self.type,
            length=self.length,
            points=points_out,
            input_tokens=n_tokens,
            pieces=pieces,
            ms=round((time.perf_counter() - t0) * 1000, 2),
        )


def summarize(
    text: str,
    *,
    type: SummaryType = "tldr",
    length: SummaryLength = "medium",
    language: str | None = None,
    context: str | None = None,
    engine: Engine | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Summarize ``text``; long input is split and combined (map-reduce), never truncated."""
    from edgewise.tasks import default_engine

    return Summarizer(
        engine or default_engine(), type=type, length=length, language=language, context=context
    ).summarize(text, progress=progress)
