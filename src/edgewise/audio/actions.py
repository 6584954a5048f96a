"""Action items from a transcript: what is to be done, by whom, by when.

The bundled language model has 135M parameters; asked for "all action items" in a whole
transcript it misses some and invents others. So the work is split so that each part is
within its reach:

1. candidates: sentences that carry a task cue ("will", "needs to", "please", "remember to",
   "tiene que", "no olvides", ...). Cue lists exist for English, Spanish, German, French,
   Italian and Portuguese; other languages yield no candidates.
2. per sentence, ``extract`` with a JSON Schema (grammar-constrained) and few-shot examples
   fills ``what`` and ``who``;
3. each field must be grounded in the sentence: ``who`` must be words of the sentence and not a
   cue, ``what`` must be mostly the sentence's own words; a field that fails falls back to a
   pattern ("NAME will/has to/tiene que VERB ..." -> who, the rest -> what);
4. ``when`` is never asked of the model: ``edgewise.text.dates`` resolves the stated date
   against the recording date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from edgewise.engines.base import Engine
from edgewise.errors import EdgewiseError
from edgewise.text.dates import find_date, fold

CUES: dict[str, list[str]] = {
    "en": [
        r"will",
        r"'ll",
        r"needs? to",
        r"has to",
        r"have to",
        r"must",
        r"should",
        r"(?:is|are|am) going to",
        r"please",
        r"remember to",
        r"don'?t forget",
        r"make sure",
        r"let'?s",
        r"can you",
        r"could you",
        r"to-?do",
        r"action item",
        r"follow up",
        r"is supposed to",
    ],
    "es": [
        r"tiene que",
        r"tienen que",
        r"tengo que",
        r"tenemos que",
        r"hay que",
        r"debe",
        r"deben",
        r"debemos",
        r"necesita",
        r"necesitamos",
        r"va a",
        r"vamos a",
        r"por favor",
        r"recuerda",
        r"recordad",
        r"no olvides",
        r"no olvideis",
        r"no os olvideis",
        r"se encarga",
        r"encargate",
        r"pendiente",
    ],
    "de": [r"muss", r"mussen", r"soll", r"sollte", r"wird", r"bitte", r"nicht vergessen"],
    "fr": [r"doit", r"doivent", r"il faut", r"va ", r"s'il (?:te|vous) plait", r"n'oublie"],
    "it": [r"deve", r"devono", r"bisogna", r"per favore", r"ricorda", r"non dimenticare"],
    "pt": [r"tem que", r"precisa", r"deve", r"por favor", r"lembre", r"nao esqueca"],
}
_CUE_RE = {
    lang: re.compile(r"(?<![\w'])(?:" + "|".join(cues) + r")(?!\w)") for lang, cues in CUES.items()
}
# A note to oneself is mostly imperatives with no cue at all ("Email the contract to Laura.
# Book a table for four."): a sentence that opens with one of these verbs is a task. English
# verbs are also nouns ("Call volume was high"), so the next word must start an object or a
# particle (a determiner, a pronoun, a number, "up", a name); Spanish imperatives and
# infinitives ("Envía", "Llamar al banco") are verbs on their own.
IMPERATIVES: dict[str, frozenset[str]] = {
    "en": frozenset(
        """add answer arrange ask bake book bring buy call cancel change charge check clean
        clear collect confirm contact copy cut deliver delete do download drop email e-mail
        fax feed file fill find finish fix follow forward get give go hand have invite join
        leave let look mail make meet message move order organise organize pack pay phone
        pick plan post prepare print put read register reject remind renew rent repair reply
        report request reschedule reserve return review ring run save schedule sell send set
        share ship sign sort start stop submit take talk tell test text tidy transfer try
        update upload visit wash water write""".split()
    ),
    "es": frozenset(
        """anade anadir anota anotar apunta apuntar arregla arreglar avisa avisar busca buscar
        cambia cambiar cancela cancelar comprar compra confirma confirmar contesta contestar
        enviar envia escribe escribir haz hacer habla hablar imprime imprimir lava lavar
        lleva llevar llama llamar manda mandar organiza organizar paga pagar pide pedir
        prepara preparar recoge recoger reenvia reenviar renueva renovar reserva reservar
        responde responder revisa revisar saca sacar termina terminar trae traer""".split()
    ),
}
_OBJECT_START = frozenset(
    """the a an my our your his her their its this that these those some any all it them him
    her me us up back out off over in on down together everyone everybody someone two three
    four five six seven eight nine ten""".split()
)
_FILLERS = frozenset("so and also then ok okay now oh first next finally please just".split())


def is_imperative(sentence: str, language: str | None) -> bool:
    """Whether ``sentence`` opens with a task verb in the imperative (see ``IMPERATIVES``)."""
    lang = language if language in IMPERATIVES else ("en" if language is None else None)
    if lang is None:
        return False
    words = re.findall(r"[\w'\-]+", sentence)
    lowered = [fold(w) for w in words]
    i = 0
    while i < len(lowered) - 1 and lowered[i] in _FILLERS:
        i += 1
    if i >= len(lowered) or lowered[i] not in IMPERATIVES[lang]:
        return False
    if lang != "en":
        return True
    if i + 1 >= len(words):
        return False
    after = words[i + 1]
    return fold(after) in _OBJECT_START or after[:1].isupper() or after.isdigit()


# "NAME <modal> rest": a name (capitalised word(s)) in front of a task verb phrase
_WHO_MODAL = {
    "en": r"will|'ll|needs to|need to|has to|have to|must|should|is going to|is supposed to",
    "es": r"tiene que|debe|necesita|va a|tendra que|se encarga de",
}
_LEADING = {
    "en": r"^(?:(?:so|and|also|then|ok|okay|oh|and then|finally|first|second|next)\b,?\s*)*"
    r"(?:please |remember to |don'?t forget to |make sure (?:to |that )?|let'?s |we need to |"
    r"we should |we have to |i need to |i have to |i will |i'll |can you |could you |"
    r"you need to |you should |we will |we'll )*",
    "es": r"^(?:(?:y|bueno|entonces|tambien|ademas|por ultimo|primero)\b,?\s*)*"
    r"(?:por favor,? |no olvides |no olvideis |no os olvideis de |recuerda |recordad |hay que |"
    r"tenemos que |tengo que |vamos a |necesitamos |debemos )*",
}
_NOT_NAMES = {
    "i",
    "we",
    "you",
    "they",
    "he",
    "she",
    "it",
    "please",
    "so",
    "and",
    "also",
    "then",
    "the",
    "this",
    "that",
    "everyone",
    "someone",
    "nosotros",
    "yo",
    "tu",
    "el",
    "ella",
    "ellos",
    "alguien",
    "todos",
    "no",
    "por",
    "favor",
    "hay",
    "recuerda",
    "ok",
    "okay",
    "hi",
    "hello",
    "hey",
    "well",
    "now",
    "hola",
    "bueno",
    "vale",
    "don't",
    "dont",
    "do",
    "can",
    "could",
    "remember",
    "thanks",
    "gracias",
}
# a short sentence that heads a note and dates what follows: "Note for Monday.", "Tareas para
# mañana."
_HEADING = re.compile(
    r"\b(?:note|notes|memo|to-?do|todo|tasks|reminders?|plan|nota|notas|tareas|pendientes|"
    r"recordatorios?)\b"
)
_TRAILING_TIME = re.compile(
    r"[\s,]*(?:\b(?:by|before|on|until|no later than|for|at|para|antes de|antes del|el|hasta|"
    r"hasta el|a|al|en|del|de)\s*)*$"
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "what": {
            "type": "string",
            "minLength": 3,
            "maxLength": 120,
            "description": "the task copied from the sentence: the verb and what it applies "
            "to (objects, people, places, amounts), without the date or time",
        },
        "who": {
            "type": ["string", "null"],
            "maxLength": 40,
            "description": "the name of the person who will do it, from the sentence, or null",
        },
    },
    "required": ["what", "who"],
}
# Measured on the note with Qwen2.5-Coder-1.5B: asked for "a short verb phrase", the
# model cut "Book a table for four people at the Italian restaurant" to "book a table" and
# "Email the signed contract to Laura" to "email the signed contract". The task's objects,
# recipient and place are what makes it doable, so they stay; the date goes to ``when``.
INSTRUCTIONS = (
    "The sentence comes from a voice note. Extract its action item: 'what' is the task to be "
    "done, copied from the sentence with everything it applies to (objects, the person it is "
    "for, places, amounts) but without the date or time; 'who' is the name of the person who "
    "will do it as written in the sentence, or null when no name is given (a person the task "
    "is for or sent to is not who does it)."
)
EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("Peter has to call the bank on Monday.", {"what": "call the bank", "who": "Peter"}),
    ("Please remember to water the plants.", {"what": "water the plants", "who": None}),
    (
        "We should ask Helen to order new chairs for the office.",
        {"what": "order new chairs for the office", "who": "Helen"},
    ),
    (
        "Send the two invoices to Marco before Thursday.",
        {"what": "send the two invoices to Marco", "who": None},
    ),
    ("Pedro tiene que reservar el hotel.", {"what": "reservar el hotel", "who": "Pedro"}),
]


class ActionItem(BaseModel):
    """One task from a voice note."""

    what: str = Field(description="What is to be done.")
    who: str | None = Field(default=None, description="Who does it, when a name is given.")
    when: str | None = Field(default=None, description="ISO date, when the note states one.")
    when_text: str | None = Field(default=None, description="The words the date came from.")
    sentence: str = Field(description="The sentence of the transcript it came from.")
    start: float | None = Field(default=None, description="Second of the recording it was said.")
    source: str = Field(
        description="Where what and who came from: 'model' (the language model, grounded in "
        "the sentence), 'pattern' (the model's answer failed the check, or no model), or "
        "'model+pattern' (one of each)."
    )


def cue_language(language: str | None) -> list[str]:
    if language in CUES:
        return [language]
    return ["en"] if language is None else []


def is_candidate(sentence: str, language: str | None) -> bool:
    folded = fold(sentence)
    if any(_CUE_RE[lang].search(folded) for lang in cue_language(language)):
        return True
    return is_imperative(sentence, language)


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", fold(text))


def grounded_who(who: Any, sentence: str) -> str | None:
    """``who`` if it is a name written in the sentence (not a pronoun or cue word)."""
    if not isinstance(who, str) or not who.strip():
        return None
    words = _words(who)
    if not words or len(words) > 4 or any(w in _NOT_NAMES for w in words):
        return None
    if not re.search(
        r"(?<!\w)" + re.escape(" ".join(words)) + r"(?!\w)", " ".join(_words(sentence))
    ):
        return None
    # the sentence's own spelling, cut to the capitalised words at its start: a name
    # ("Laura debe" -> "Laura"; "the team" -> None)
    m = re.search(r"(?<!\w)" + re.escape(" ".join(words)) + r"(?!\w)", fold(sentence))
    if m is None:
        return None
    name = []
    for part in sentence[m.start() : m.end()].split():
        if not part[:1].isupper():
            break
        name.append(part)
    found = " ".join(name)
    if not found or any(_CUE_RE[lang].search(fold(found)) for lang in _CUE_RE):  # "Don't"
        return None
    return found


def grounded_what(what: Any, sentence: str) -> str | None:
    """``what`` if it is two or more of the sentence's own words (the model was told to copy)."""
    if not isinstance(what, str):
        return None
    words = _words(what)
    sent = set(_words(sentence))
    if len(words) < 2 or not all(w in sent for w in words):
        return None
    return " ".join(what.split()).strip(" .,;:")


def strip_cue(what: str, language: str | None) -> str:
    """``what`` without a leading task cue ("debe llamar" -> "llamar", "needs to" -> "")."""
    lang = language if language in _LEADING else "en"
    folded = fold(what)
    m = re.match(r"(?:(?:" + _WHO_MODAL[lang] + r")\s+)+", folded)
    if m is None:
        m = re.match(_LEADING[lang], folded)
    return what[m.end() :] if m and m.end() < len(what) else what


def pattern_fields(sentence: str, language: str | None) -> tuple[str, str | None]:
    """(what, who) by pattern: a name before a task verb, and the verb phrase after the cue."""
    lang = language if language in _LEADING else "en"
    text = sentence.strip().rstrip(".!?")
    folded = fold(text)
    who = None
    # the name must be capitalised in the original text (fold() keeps offsets)
    span: tuple[int, int, int] | None = None  # name start, name end, end of the cue
    for cand in re.finditer(
        r"(?:^|[,;]\s*|\b(?:so|and|also|then|y|entonces)\s+)"
        r"([\w'\-]+(?: [\w'\-]+)?),?\s+(?:" + _WHO_MODAL[lang] + r")\s+",
        folded,
    ):
        a, b = cand.start(1), cand.end(1)
        first = text[a:b].split()[0]
        if not first[:1].isupper() or fold(first) in _NOT_NAMES:  # "OK Maria will": "Maria"
            a = b - len(text[a:b].split()[-1])
        if text[a:b][:1].isupper() and fold(text[a:b]).split()[0] not in _NOT_NAMES:
            span = (a, b, cand.end())
            break
    if span is not None:
        who = text[span[0] : span[1]]
        rest = text[span[2] :]
    else:
        lead = re.match(_LEADING[lang], folded)
        rest = text[lead.end() if lead else 0 :]
        ask = re.search(r"\bask (\w+) to ", fold(rest))
        if ask and rest[ask.start(1) : ask.start(1) + 1].isupper():
            who = rest[ask.start(1) : ask.end(1)]
            rest = rest[ask.end() :]
    return rest.strip(" ,"), who


_PART_OF_DAY = re.compile(
    r"\s+(?:morning|afternoon|evening|night|at noon|por la (?:manana|tarde|noche)|a mediodia)\b"
)


def _with_part_of_day(sentence: str, found: Any) -> str:
    """The date's words with the part of the day said after them ("Friday evening")."""
    m = _PART_OF_DAY.match(fold(sentence), found.end)
    return sentence[found.start : m.end()] if m else found.text


# a time of day said anywhere in the sentence: "before noon", "at 3 pm", "antes del mediodia"
_CLOCK = re.compile(
    r"\b(?:before|by|at|after|around|until|antes del?|a las?|hacia las?|despues del?|hasta las?)"
    r"\s+(?:noon|midday|midnight|mediodia|medianoche|"
    r"\d{1,2}(?:[:.]\d{2})?(?:\s*(?:am|pm|a\.m\.|p\.m\.|o'clock|h)\b)?)"
)


def clock_phrase(sentence: str) -> str | None:
    """The time of day a sentence states ("before noon", "a las 5"), as written, or None.

    A bare number needs "at/a las" and nothing after it that makes it a count or an amount
    ("at 4 people" is not a time)."""
    folded = fold(sentence)
    for m in _CLOCK.finditer(folded):
        rest = folded[m.end() :].lstrip()
        if (
            m.group(0)[-1].isdigit()
            and rest[:1].isalpha()
            and not rest.startswith(("today", "tomorrow", "on ", "hoy", "manana", "el "))
        ):
            continue
        return sentence[m.start() : m.end()]
    return None


def strip_time(what: str, when_text: str | None) -> str:
    """``what`` without the date words and the preposition that led into them."""
    if when_text:
        i = fold(what).find(fold(when_text))
        if i >= 0:
            what = what[:i] + what[i + len(when_text) :]
    what = " ".join(what.split())
    folded = fold(what)
    m = _TRAILING_TIME.search(folded)
    if m and m.start() > 0:
        what = what[: m.start()]
    return what.strip(" ,.;:")


def sentence_items(
    sentences: Sequence[tuple[str, float | None]],
    *,
    language: str | None,
    reference: date,
    engine: Engine | None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ActionItem]:
    """Action items from (sentence, start second) pairs; ``engine=None``: patterns only.

    ``progress(done, total)`` counts the candidate sentences (one model call each)."""
    from edgewise.tasks.extract import Extractor

    extractor = (
        Extractor(
            engine,
            SCHEMA,
            instructions=INSTRUCTIONS,
            examples=EXAMPLES,
            max_retries=1,
            max_tokens=96,
        )
        if engine is not None
        else None
    )
    items: list[ActionItem] = []
    seen: set[str] = set()
    candidates = []
    heading: dict[int, Any] = {}  # the date a heading ("Note for Monday.") gives what follows
    current = None
    for sentence, start in sentences:
        if is_candidate(sentence, language):
            candidates.append((sentence, start))
            heading[len(candidates) - 1] = current
        elif _HEADING.search(fold(sentence)) and len(_words(sentence)) <= 6:
            current = find_date(sentence, reference) or current
    for n, (sentence, start) in enumerate(candidates, 1):
        p_what, p_who = pattern_fields(sentence, language)
        # an imperative's doer is the one who hears it; a name in it is an object ("Email
        # the contract to Laura"), unless the pattern found "ask NAME to ..."
        bare = is_imperative(sentence, language) and not any(
            _CUE_RE[lang].search(fold(sentence)) for lang in cue_language(language)
        )
        what = who = None
        from_model = set()
        if extractor is not None:
            try:
                got = extractor.extract(sentence)
            except EdgewiseError:
                got = {}
            what = grounded_what(got.get("what"), sentence)
            who = grounded_who(got.get("who"), sentence)
            if what is not None:
                from_model.add("what")
            if who is not None or (got.get("who") is None and p_who is None):
                from_model.add("who")
        if bare and who is not None and fold(who) not in fold(what or ""):
            # the model took the imperative's object for its doer ("Email the contract to
            # Laura" -> who Laura, what "email the contract"): the sentence's own words keep it
            what = p_what
            from_model.discard("what")
        if what is None:
            what = p_what
        if who is None or bare:  # a pattern's name beats a null (the model drops subjects)
            who = p_who
        if progress is not None:
            progress(n, len(candidates))
        source = {2: "model", 1: "model+pattern", 0: "pattern"}[len(from_model)]
        found = find_date(sentence, reference)
        when_text = _with_part_of_day(sentence, found) if found else None
        if found is None:  # due when the note's heading says ("Note for Monday.")
            found = heading.get(n - 1)
            when_text = found.text if found else None
        date_text, clock = when_text, clock_phrase(sentence)
        if clock and fold(clock) in fold(what):
            i = fold(what).find(fold(clock))
            what = what[:i] + what[i + len(clock) :]
        if clock and when_text and fold(clock) not in fold(when_text):
            when_text = f"{when_text}, {clock}"  # "Monday, before noon": the date stays its own
        if who and fold(what).startswith(fold(who) + " "):
            what = what[len(who) + 1 :].lstrip(" ,")
        what = strip_time(strip_cue(what, language), date_text)
        if len(_words(what)) < 1:
            continue
        first = sentence.split(maxsplit=1)[0] if sentence.split() else ""
        if what.startswith(first) and first[:1].isupper() and not first.isupper():
            what = (
                what[0].lower() + what[1:]
            )  # "Book a table" -> "book a table", as the model writes
        key = " ".join(_words(what))
        if key in seen:
            continue
        seen.add(key)
        items.append(
            ActionItem(
                what=what,
                who=who,
                when=found.date.isoformat() if found else None,
                when_text=when_text,
                sentence=sentence,
                start=start,
                source=source,
            )
        )
    return items
