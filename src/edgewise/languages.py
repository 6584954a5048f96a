"""Language names and a cheap language guess, shared by the tasks and the style profile.

Small models follow "Write in Spanish." where "Write in es." or "the text's language" is lost on
them, so prompts name the language. The guess counts common function words; it knows the
languages below and says nothing when the text does not clearly belong to one of them.
"""

from __future__ import annotations

import re

from edgewise.errors import InputError

# ISO 639-1 codes of the catalog's languages (and a few more)
LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish", "th": "Thai",
    "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip
STOPWORDS = {
    "en": "the and to of a in is that it for you with on this be are not have i was but",
    "de": "der die und das ist nicht ich zu den mit ein es sie auf für von dem wir auch sich",
    "it": "il di che la e non per un una sono è con mi ti si della le lo gli del ma anche",
    "fr": "le la les et de des un une est pas je que vous il pour dans sur avec ce qui au du",
    "es": "el la los las de que y en un una es no por con para se lo del al como pero está",
    "nl": "de het een en van is niet ik dat op te zijn met voor je",
    "pt": "o a os as de que e do da em um uma para com não é se na no ao dos das mas",
}
# a word common to several languages counts for each of them as a share: "la" is a third of a
# word for Spanish, French and Italian, and "y" or "des" decide
_WEIGHT: dict[str, float] = {}
for _words in STOPWORDS.values():
    for _w in set(_words.split()):
        _WEIGHT[_w] = _WEIGHT.get(_w, 0) + 1
_STOP = {lang: {w: 1 / _WEIGHT[w] for w in words.split()} for lang, words in STOPWORDS.items()}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def language_name(language: str) -> str:
    """The English name of a language code ("es", "pt-BR", "zh_Hant"); other text unchanged."""
    code = language.strip().replace("_", "-").split("-")[0].lower()
    return LANGUAGE_NAMES.get(code, language.strip())


def check_language(language: str) -> str:
    """The name to put in a prompt for a language given by the user: a known code is named, a
    name is kept ("Klingon" is the user's call), an unknown code ("xx", "zz-ZZ") is an error,
    since a model told "Write in xx." silently writes English."""
    name = language_name(language)
    if re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*", name) and (
        len(name) <= 3 or not name.isalpha()
    ):
        known = ", ".join(sorted(LANGUAGE_NAMES))
        raise InputError(f"unknown language code {language!r}: give a name or one of {known}")
    return name


def word_counts(text: str) -> dict[str, float]:
    """How many of the text's words are common words of each known language (a word shared
    by k of the languages counts 1/k for each)."""
    words = [w.lower() for w in _WORD.findall(text)]
    return {lang: sum(stop.get(w, 0.0) for w in words) for lang, stop in _STOP.items()}


def detect_language(text: str) -> str | None:
    """The code of the text's language when its common words say so clearly (a score of at
    least 2, and half as much again as the runner-up's); None otherwise."""
    ranked = sorted(word_counts(text).items(), key=lambda kv: -kv[1])
    (best, first), (_, second) = ranked[0], ranked[1]
    return best if first >= 2 and first >= 1.5 * second else None
