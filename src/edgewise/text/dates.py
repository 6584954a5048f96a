"""Spoken dates to ISO dates, deterministic: "by Friday", "tomorrow", "el lunes", "3 de marzo".

A 135M-parameter model cannot do calendar arithmetic, so "when" is never left to it: this
module finds the time expression in a sentence (English and Spanish; day-and-month dates and
"today"/"tomorrow" in German and French too; ISO and day-first dotted dates such as 14.06.2025
in any language) and resolves it against a reference date (when the note was recorded, or
today in a conversation).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

WEEKDAYS = {
    "en": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    "es": ["lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo"],
}
MONTHS = {
    "en": [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    "de": [
        "januar",
        "februar",
        "marz",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "dezember",
    ],
    "fr": [
        "janvier",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "decembre",
    ],
}
NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "ten": 10,
    "a": 1,
    "un": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
}


@dataclass(frozen=True)
class DateMatch:
    """A resolved date and the words it came from (character span in the folded text)."""

    date: date
    text: str
    start: int
    end: int


def fold(text: str) -> str:
    """Lower case without accents, same length as the input (so spans map back)."""
    out = []
    for ch in text:
        base = unicodedata.normalize("NFD", ch)[0]
        out.append(base.lower() if len(base.lower()) == 1 else ch)
    return "".join(out)


def _next_weekday(ref: date, weekday: int) -> date:
    ahead = (weekday - ref.weekday()) % 7
    return ref + timedelta(days=ahead or 7)


def _month_day(ref: date, month: int, day: int, year: int | None) -> date | None:
    try:
        found = date(year or ref.year, month, day)
    except ValueError:
        return None
    if year is None and found < ref:
        try:
            found = date(ref.year + 1, month, day)
        except ValueError:
            return None
    return found


def _end_of_month(ref: date) -> date:
    return date(ref.year, ref.month, calendar.monthrange(ref.year, ref.month)[1])


def _patterns() -> list[tuple[re.Pattern[str], str]]:
    en_days = "|".join(WEEKDAYS["en"])
    es_days = "|".join(WEEKDAYS["es"])
    en_months = "|".join(MONTHS["en"] + [m[:3] for m in MONTHS["en"]])
    es_months = "|".join(MONTHS["es"])
    nums = "|".join(NUMBERS) + r"|\d+"
    de_months = "|".join(MONTHS["de"])
    fr_months = "|".join(MONTHS["fr"])
    raw = [
        (r"\b(\d{4})-(\d{2})-(\d{2})\b", "iso"),
        # day first with dots, as written across Europe: 14.06.2025, 14.6.25, 14.6.
        (r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2}(?!\d))?(?![\d]|\.\d)", "dotted"),
        (r"\bthe day after tomorrow\b", "plus2"),
        (r"\bpasado manana\b", "plus2"),
        (r"\b(?:ubermorgen|apres-demain|apres demain)\b", "plus2"),
        (r"\btomorrow\b", "plus1"),
        (r"\bdemain\b", "plus1"),
        # "Morgen" is also "morning": not after am/guten/jeden/den/der/heute
        (
            r"(?<!\bam )(?<!\bguten )(?<!\bjeden )(?<!\bden )(?<!\bder )(?<!\bheute )\bmorgen\b",
            "plus1",
        ),
        (r"\b(?:heute|aujourd'hui|aujourd hui)\b", "plus0"),
        # "mañana" is also "morning": not after la/esta/por/de
        (r"(?<!\bla )(?<!\besta )(?<!\bpor )(?<!\bde )\bmanana\b", "plus1"),
        (r"\b(today|tonight|this evening|hoy|esta noche|esta tarde)\b", "plus0"),
        (rf"\b(?:in|within) ({nums}) (day|days|week|weeks)\b", "in_n"),
        (rf"\b(?:en|dentro de) ({nums}) (dia|dias|semana|semanas)\b", "in_n"),
        (r"\b(?:the )?end of (?:the |this )?month\b", "eom"),
        (r"\b(?:(?:a )?(?:fin|final|finales) de(?:l)? mes)\b", "eom"),
        (r"\b(?:the )?end of (?:the |this )?week\b", "eow"),
        # "this week" is due by its last working day, as "the end of the week" is
        (r"\b(?:this week|esta semana)\b", "eow"),
        (r"\bnext week\b", "next_week"),
        (r"\b(?:la semana que viene|la proxima semana|la semana proxima)\b", "next_week"),
        (
            rf"\b({en_months})\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?\b",
            "month_day_en",
        ),
        (
            rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({en_months})\.?(?:,? (\d{{4}}))?\b",
            "day_month_en",
        ),
        (rf"\b(\d{{1,2}}) de ({es_months})(?: de (\d{{4}}))?\b", "day_month_es"),
        (rf"\b(\d{{1,2}})\.? ({de_months})(?:,? (\d{{4}}))?\b", "day_month_de"),
        (rf"\b(\d{{1,2}}|1er) ({fr_months})(?: (\d{{4}}))?\b", "day_month_fr"),
        (rf"\b(?:next |this |on |by |until |before )?({en_days})\b", "weekday_en"),
        (rf"\b(?:el |este |el proximo |el |hasta el |antes del )?({es_days})\b", "weekday_es"),
    ]
    return [(re.compile(p), kind) for p, kind in raw]


_PATTERNS = _patterns()


def _month_index(name: str, lang: str) -> int:
    for i, m in enumerate(MONTHS[lang], 1):
        if name == m or (lang == "en" and name == m[:3]):
            return i
    raise ValueError(name)


def _resolve(kind: str, m: re.Match[str], ref: date) -> date | None:
    g = m.groups()
    if kind == "iso":
        try:
            return date(int(g[0]), int(g[1]), int(g[2]))
        except ValueError:
            return None
    if kind == "dotted":
        year = int(g[2]) if g[2] else None
        if year is not None and year < 100:
            year += 2000
        return _month_day(ref, int(g[1]), int(g[0]), year)
    if kind.startswith("plus"):
        return ref + timedelta(days=int(kind[4:]))
    if kind == "in_n":
        n = NUMBERS.get(g[0]) if not g[0].isdigit() else int(g[0])
        if n is None or n > 366:
            return None
        per = 7 if g[1].startswith(("week", "semana")) else 1
        return ref + timedelta(days=n * per)
    if kind == "eom":
        return _end_of_month(ref)
    if kind == "eow":
        return ref + timedelta(days=(4 - ref.weekday()) % 7)
    if kind == "next_week":
        return ref + timedelta(days=7 - ref.weekday())
    if kind == "month_day_en":
        return _month_day(ref, _month_index(g[0], "en"), int(g[1]), int(g[2]) if g[2] else None)
    if kind == "day_month_en":
        return _month_day(ref, _month_index(g[1], "en"), int(g[0]), int(g[2]) if g[2] else None)
    if kind == "day_month_es":
        return _month_day(ref, _month_index(g[1], "es"), int(g[0]), int(g[2]) if g[2] else None)
    if kind in ("day_month_de", "day_month_fr"):
        day = 1 if g[0] == "1er" else int(g[0])
        return _month_day(ref, _month_index(g[1], kind[-2:]), day, int(g[2]) if g[2] else None)
    if kind == "weekday_en":
        return _next_weekday(ref, WEEKDAYS["en"].index(g[0]))
    if kind == "weekday_es":
        return _next_weekday(ref, WEEKDAYS["es"].index(g[0]))
    return None


def find_date(sentence: str, reference: date) -> DateMatch | None:
    """The first stated date in ``sentence`` (earliest in the text), resolved against
    ``reference``; None when it states none."""
    folded = fold(sentence)
    best: DateMatch | None = None
    for pattern, kind in _PATTERNS:
        for m in pattern.finditer(folded):
            when = _resolve(kind, m, reference)
            if when is None:
                continue
            if best is None or m.start() < best.start:
                best = DateMatch(when, sentence[m.start() : m.end()], m.start(), m.end())
            break
    return best


def date_spans(sentence: str, reference: date) -> list[DateMatch]:
    """Every stated date in ``sentence``, in order, without overlaps."""
    found: list[DateMatch] = []
    text = sentence
    while (match := find_date(text, reference)) is not None:
        found.append(
            DateMatch(match.date, sentence[match.start : match.end], match.start, match.end)
        )
        text = text[: match.start] + " " * (match.end - match.start) + text[match.end :]
    return sorted(found, key=lambda m: m.start)
