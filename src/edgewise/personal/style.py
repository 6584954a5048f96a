"""Write like the user: a style summary computed locally, ``compose`` and ``rewrite``.

``style_summary`` reads the profile's writing samples and measures, with no model: typical
length, sentence length, formality (contractions, exclamations, slang and emoji against formal
markers), the greetings and sign-offs the user actually uses, emoji use and the language.
``compose`` and ``rewrite`` put that summary and the user's most similar past texts (by
embedding) in the prompt; the greeting and sign-off the user uses in most messages frame the
model's text, and the length budget follows the user's typical length.

``stylometry`` turns a text into features (word and sentence length, punctuation, function
words, greeting and sign-off, emoji, line breaks) and ``style_distance`` compares texts with a
Burrows'-Delta-like mean of standardized differences; ``benchmarks/personal_style.py`` uses it
to measure outputs against a user's held-out texts, with and without the profile.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from edgewise.engines.base import Engine
from edgewise.errors import InputError
from edgewise.languages import LANGUAGE_NAMES, word_counts
from edgewise.personal.profile import Profile, check_text, open_profile
from edgewise.types import Message

GREETINGS = (
    "hi",
    "hello",
    "hey",
    "dear",
    "good morning",
    "good afternoon",
    "greetings",
    "hallo",
    "liebe",
    "lieber",
    "sehr geehrte",
    "ciao",
    "salve",
    "gentile",
    "bonjour",
    "hola",
    "folks",
    "all",
)
SIGNOFFS = (
    "cheers",
    "best",
    "best regards",
    "regards",
    "kind regards",
    "thanks",
    "thank you",
    "many thanks",
    "sincerely",
    "yours",
    "take care",
    "love",
    "ciao",
    "grazie",
    "saluti",
    "cordiali saluti",
    "viele grüße",
    "gruß",
    "grüße",
    "mfg",
    "danke",
    "merci",
    "cordialement",
    "saludos",
    "enjoy",
)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f1e6-\U0001f1ff]")
_SENT = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
CONTRACTIONS = re.compile(r"\b\w+'(s|re|ve|ll|d|m|t)\b|\bn't\b", re.IGNORECASE)
INFORMAL = {"lol", "gonna", "wanna", "yeah", "yep", "nope", "hey", "cool", "awesome", "btw", "ok"}
FORMAL = {"dear", "regards", "sincerely", "kindly", "please", "would", "furthermore", "however"}
FUNCTION_WORDS = (
    "the and to of a in is that it for you i with on this be not have but so just "
    "we my your will can if at as or are was do me"
).split()
MAX_EXAMPLES = 2
EXAMPLE_CHARS = 600


def clean_email(text: str) -> str:
    """The user's own words in an email: no quoted replies (``>`` lines, "... wrote:"), and
    nothing after the signature delimiter ("-- ") or a mailing-list footer rule."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped in ("--", "-- ") or re.fullmatch(r"_{5,}|-{5,}", stripped):
            break
        if stripped.startswith(">") or re.search(r"(wrote|schrieb|scritto|écrit) ?:$", stripped):
            continue
        lines.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def language(text: str) -> str:
    """The language whose common words appear most (edgewise.languages); "en" if unsure."""
    scores = word_counts(text)
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "en"


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.strip().split("\n") if ln.strip()]


def greeting_of(text: str) -> str | None:
    """The opening line when it is a greeting ("Hi Bob," -> "Hi Bob,")."""
    lines = _lines(text)
    if not lines:
        return None
    first = lines[0]
    low = first.lower()
    if len(first.split()) <= 5 and any(re.match(rf"{g}\b", low) for g in GREETINGS):
        return first
    return None


def signoff_of(text: str) -> str | None:
    """The closing (a sign-off line and the name after it), when there is one."""
    lines = _lines(text)
    tail = lines[-3:]
    for i, line in enumerate(tail):
        low = line.lower().rstrip(",.!")
        if len(line.split()) <= 4 and any(re.match(rf"{s}\b", low) for s in SIGNOFFS):
            return "\n".join(tail[i:])
    if lines and len(lines) > 1 and len(lines[-1].split()) <= 2 and lines[-1][:1].isupper():
        return lines[-1]  # a bare name or initial as the last line
    return None


class StyleSummary(BaseModel):
    """How the user writes, measured from their samples."""

    samples: int = 0
    words_median: float = Field(default=0.0, description="Typical message length in words.")
    sentence_words: float = Field(default=0.0, description="Mean words per sentence.")
    formality: float = Field(default=0.5, description="0 casual ... 1 formal.")
    greeting_rate: float = 0.0
    greetings: list[str] = Field(default_factory=list, description="Most used openings.")
    signoff_rate: float = 0.0
    signoffs: list[str] = Field(default_factory=list, description="Most used closings.")
    emoji_per_100_words: float = 0.0
    exclamations_per_sentence: float = 0.0
    language: str = "en"

    def describe(self) -> str:
        """The summary as instructions for the model."""
        tone = "formal" if self.formality > 0.6 else "casual" if self.formality < 0.4 else "plain"
        parts = [
            f"Write about {int(self.words_median)} words, in {self.language_name()}.",
            f"Tone: {tone}; sentences of about {round(self.sentence_words)} words.",
        ]
        if self.greetings and self.greeting_rate >= 0.5:
            parts.append(f'Open with a greeting like "{self.greetings[0]}".')
        elif self.greeting_rate < 0.2:
            parts.append("Do not open with a greeting.")
        if self.signoffs and self.signoff_rate >= 0.5:
            parts.append(f'Close with "{self.signoffs[0]}".')
        if self.emoji_per_100_words >= 0.5:
            parts.append("Use an emoji now and then.")
        else:
            parts.append("No emoji.")
        if self.exclamations_per_sentence < 0.05:
            parts.append("Avoid exclamation marks.")
        return " ".join(parts)

    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.language, "English")


def _sentences(text: str) -> list[str]:
    return [s for s in _SENT.split(text) if _WORD.search(s)]


def formality(text: str) -> float:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.5
    informal = len(CONTRACTIONS.findall(text)) + text.count("!") + len(_EMOJI.findall(text))
    informal += sum(w in INFORMAL for w in words) + len(re.findall(r"(?<![\w'])i(?![\w'])", text))
    formal = sum(w in FORMAL for w in words)
    return (formal + 1) / (formal + informal + 2)


def style_summary(texts: Sequence[str]) -> StyleSummary:
    """Measure the style of ``texts`` (the user's own writing)."""
    texts = [clean_email(t) for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        return StyleSummary()
    words = [len(_WORD.findall(t)) for t in texts]
    sents = [s for t in texts for s in _sentences(t)]
    greets = [g for g in (greeting_of(t) for t in texts) if g]
    signs = [s for s in (signoff_of(t) for t in texts) if s]
    total_words = max(1, sum(words))
    return StyleSummary(
        samples=len(texts),
        words_median=float(statistics.median(words)),
        sentence_words=round(sum(len(_WORD.findall(s)) for s in sents) / max(1, len(sents)), 1),
        formality=round(statistics.mean(formality(t) for t in texts), 3),
        greeting_rate=round(len(greets) / len(texts), 3),
        greetings=[g for g, _ in Counter(greets).most_common(3)],
        signoff_rate=round(len(signs) / len(texts), 3),
        signoffs=[s for s, _ in Counter(signs).most_common(3)],
        emoji_per_100_words=round(
            100 * sum(len(_EMOJI.findall(t)) for t in texts) / total_words, 2
        ),
        exclamations_per_sentence=round(sum(t.count("!") for t in texts) / max(1, len(sents)), 3),
        language=Counter(language(t) for t in texts).most_common(1)[0][0],
    )


# ---------------------------------------------------------------------------- stylometry
def stylometry(text: str) -> list[float]:
    """Style features of one text (independent of its topic as far as possible)."""
    words = _WORD.findall(text)
    n = max(1, len(words))
    lower = [w.lower() for w in words]
    sents = _sentences(text) or [text]
    counts = Counter(lower)
    feats = [
        float(len(words)) ** 0.5,
        sum(len(w) for w in words) / n,
        n / len(sents),
        text.count(",") / n,
        text.count("!") / n,
        text.count("?") / n,
        (text.count(";") + text.count(":")) / n,
        text.count("\n") / n,
        len(CONTRACTIONS.findall(text)) / n,
        sum(1 for w in words if w.isupper() and len(w) > 1) / n,
        sum(1 for w in words if w[:1].isupper()) / n,
        len(_EMOJI.findall(text)) / n,
        1.0 if greeting_of(text) else 0.0,
        1.0 if signoff_of(text) else 0.0,
    ]
    feats += [counts[w] / n for w in FUNCTION_WORDS]
    return feats


def style_distance(
    outputs: Sequence[str], references: Sequence[str], pool: Sequence[str] | None = None
) -> float:
    """Mean over ``outputs`` of the distance of their style to the references' mean style
    (lower is closer): the mean absolute difference of z-scored features, the function-word
    frequencies counting together as one feature. The z-scores use the spread over ``pool``
    (default: outputs and references); pass the same pool to compare two sets of outputs."""
    if not outputs or not references:
        raise InputError("style_distance needs outputs and references")
    pool = list(pool) if pool is not None else list(outputs) + list(references)
    cols = list(zip(*[stylometry(t) for t in pool]))
    means = [statistics.mean(c) for c in cols]
    sds = [statistics.pstdev(c) or 1.0 for c in cols]

    def z(text: str) -> list[float]:
        return [(v - m) / s for v, m, s in zip(stylometry(text), means, sds)]

    centre = [statistics.mean(c) for c in zip(*[z(t) for t in references])]
    n_style = len(cols) - len(FUNCTION_WORDS)

    def dist(row: list[float]) -> float:
        diffs = [abs(a - b) for a, b in zip(row, centre)]
        words = statistics.mean(diffs[n_style:])
        return (sum(diffs[:n_style]) + words) / (n_style + 1)

    return statistics.mean(dist(z(t)) for t in outputs)


# ---------------------------------------------------------------------------- generation
class Written(BaseModel):
    """A text written for the user, with what conditioned it."""

    text: str
    style: StyleSummary | None = None
    examples: list[str] = Field(default_factory=list, description="Past texts in the prompt.")


def similar_writing(profile: Profile, query: str, k: int = MAX_EXAMPLES) -> list[str]:
    """The user's ``k`` past texts most similar to ``query`` (MiniLM; cached vectors)."""
    from edgewise.personal.embed import default_embedder

    samples = [clean_email(t) for t in profile.writing()]
    samples = [s for s in samples if s]
    if len(samples) <= k:
        return samples
    emb = default_embedder()
    vecs = profile.embeddings(samples + [query], emb)
    sims = vecs[:-1] @ vecs[-1]
    order = sorted(range(len(samples)), key=lambda i: -float(sims[i]))[:k]
    return [samples[i] for i in order]


def _frame(text: str, style: StyleSummary) -> str:
    """Put the user's usual greeting and sign-off around ``text`` when it lacks them."""
    body = text.strip()
    if style.greetings and style.greeting_rate >= 0.5 and not greeting_of(body):
        body = f"{style.greetings[0]}\n\n{body}"
    if style.greeting_rate < 0.2 and greeting_of(body):
        body = "\n".join(body.split("\n")[1:]).strip()
    if style.signoffs and style.signoff_rate >= 0.5 and not signoff_of(body):
        body = f"{body}\n\n{style.signoffs[0]}"
    return body


def _budget(style: StyleSummary | None, default: int) -> int:
    if style is None or not style.words_median:
        return default
    return int(min(512, max(48, style.words_median * 1.6 + 16)))


def _write(
    engine: Engine,
    task: str,
    profile: Profile | str | None,
    query: str,
    max_tokens: int | None,
    default_tokens: int,
) -> Written:
    style: StyleSummary | None = None
    examples: list[str] = []
    system = "You write messages on behalf of the user."
    if profile is not None:
        prof = open_profile(profile)
        style = style_summary(prof.writing())
        examples = similar_writing(prof, query) if style.samples else []
        if style.samples:
            system += " Write exactly like the user does. " + style.describe()
        for ex in examples:
            system += f"\n\nA message the user wrote:\n---\n{ex[:EXAMPLE_CHARS]}\n---"
    messages = [Message(role="system", content=system), Message(role="user", content=task)]
    options: dict[str, Any] = {
        "max_tokens": max_tokens or _budget(style, default_tokens),
        "temperature": 0.0,
        "repeat_penalty": 1.15,
    }
    out = engine.generate(messages, options)
    text = out.text.strip()
    if out.finish_reason == "length":
        # cut at the last finished sentence rather than mid-word
        ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
        if ends and ends[-1] > len(text) // 3:
            text = text[: ends[-1]]
    if style is not None and style.samples:
        text = _frame(text, style)
    return Written(text=text, style=style, examples=examples)


def compose(
    instructions: str,
    *,
    profile: Profile | str | None = None,
    engine: Engine | None = None,
    max_tokens: int | None = None,
) -> Written:
    """Write a new message from ``instructions``, in the user's style when ``profile`` is given."""
    from edgewise.tasks import default_engine

    check_text(instructions, "instructions")
    task = f"Write the message. Instructions: {instructions.strip()}"
    return _write(engine or default_engine(), task, profile, instructions, max_tokens, 160)


def rewrite(
    text: str,
    *,
    tone: str | None = None,
    profile: Profile | str | None = None,
    engine: Engine | None = None,
    max_tokens: int | None = None,
) -> Written:
    """Rewrite ``text`` (in ``tone``, e.g. "friendly", "formal"), like the user would write it."""
    from edgewise.tasks import default_engine

    check_text(text)
    if tone is not None and (not tone.strip() or len(tone) > 100):
        raise InputError("tone must be a short description such as 'friendly' or 'formal'")
    how = f" in a {tone.strip()} tone" if tone else ""
    task = f"Rewrite this message{how}, keeping its meaning. Reply with the new message only.\n\n{text.strip()}"
    return _write(engine or default_engine(), task, profile, text, max_tokens, 200)
