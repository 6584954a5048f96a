"""The words a conversation recognizes without the model, and how replies are compared with them.

Keywords and phrases are matched on folded text (lower case, no accents, one kind of
apostrophe), as whole words, so "sí", "Si" and "si" are one keyword and "no" is not found in
"nothing". The lists cover the common European languages; a script can replace the keyword
lists (``Keywords``), and its own words join the phrase lists.
"""

from __future__ import annotations

import re

from edgewise.text.dates import fold

PUNCT = " \t\r\n.,;:!?¡¿…\"'«»“”„()"
# Default keywords for the common European languages; a script can replace each list.
YES = "yes y yeah ok okay sure correct ja genau oui sí si sì sim tak ano igen kyllä da ναι да"
NO = "no n nope nein non não nao nie ne nej nee ei nem όχι нет"
# A summary is confirmed only by a stated yes: a whole-reply keyword, or one of these inside a
# reply that holds no "no", no negation and no hesitation. Finishing cannot be undone, and label
# scoring cannot be trusted with it: SmolLM2-135M scored "no sé" as yes (0.91), "hmm, wait" as
# yes (0.77) and "perfect" as no (0.82).
CONFIRM = [
    "yes", "yeah", "yep", "ok", "okay", "sure", "correct", "right", "perfect", "great", "fine",
    "sounds good", "looks good", "all good", "go ahead", "confirm", "confirmed", "exactly",
    "ja", "genau", "richtig", "passt", "stimmt", "perfekt", "gerne",
    "oui", "d'accord", "parfait", "exactement", "c'est bon",
    "si", "claro", "vale", "perfecto", "exacto", "correcto", "de acuerdo",
    "certo", "esatto", "va bene", "perfeito", "isso", "sim",
]  # fmt: skip
NEGATION = [
    "not", "wrong", "incorrect", "change", "nicht", "falsch", "kein", "pas", "faux",
    "incorrecto", "cambiar", "sbagliato", "errado", "isn't", "isnt", "don't", "dont",
    "but", "aber", "mais", "pero", "ma", "mas",  # "yes, but ..." is no clean yes
]  # fmt: skip
HESITATION = ["hmm", "hm", "umm", "uh", "erm", "ähm", "wait", "maybe", "perhaps",
              "vielleicht", "moment", "quizas", "quiza", "peut-etre", "forse", "talvez"]  # fmt: skip
CANCEL = "cancel stop quit exit abort abbrechen stopp annuler cancelar parar annulla anuluj avbryt"
UNSURE = [
    "don't know", "dont know", "do not know", "no idea", "not sure", "unsure", "no clue",
    "hmm", "hm", "umm", "uh", "erm", "ähm",
    "no se", "no lo se", "ni idea", "no estoy seguro", "no estoy segura",
    "weiss nicht", "weiß nicht", "keine ahnung", "nicht sicher",
    "je ne sais pas", "sais pas", "aucune idee", "pas sur", "pas sure",
    "non lo so", "non so", "nao sei", "não sei",
]  # fmt: skip
# counts written as words, for "somos cuatro"; 1-12 in the languages of the keywords above,
# without words that are mostly something else (articles "un"/"ein", "once", "due", "sept")
COUNT_WORDS = {
    w: n
    for n, words in enumerate(
        [
            "one uno eins",
            "two dos zwei deux dois duas",
            "three tres drei trois tre",
            "four cuatro vier quatre quattro quatro",
            "five cinco funf cinq cinque",
            "six seis sechs",
            "seven siete sieben sette sete",
            "eight ocho acht huit otto oito",
            "nine nueve neun neuf nove",
            "ten diez zehn dix dieci",
            "eleven elf onze undici",
            "twelve doce zwolf douze dodici",
        ],
        1,
    )
    for w in words.split()
}


def norm(text: str) -> str:
    """Case-folded, single spaces, no punctuation at the ends: how whole replies compare."""
    return " ".join(text.casefold().split()).strip(PUNCT)


def fold_text(text: str) -> str:
    """Lower case, without accents, one kind of apostrophe, single spaces."""
    return " ".join(fold(text.replace("\u2019", "'")).split())


def fold_phrases(phrases: list[str]) -> set[str]:
    """The phrases folded as replies are (empty ones dropped)."""
    return {f for f in map(fold_text, phrases) if f}


def has_phrase(phrase: str, folded: str, *, plural: bool = False) -> bool:
    """Whether the folded text holds the phrase as whole words (with ``plural``, also +s/+es)."""
    if not phrase:
        return False
    tail = "(?:e?s)?" if plural else ""
    return re.search(rf"(?<!\w){re.escape(phrase)}{tail}(?!\w)", folded) is not None


def says(phrases: set[str], text: str) -> bool:
    """Whether ``text`` holds one of the (folded) ``phrases`` as whole words."""
    folded = fold_text(text)
    return any(has_phrase(p, folded) for p in phrases)
