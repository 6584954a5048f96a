"""Schema-valid rate and field-level F1: edgewise ``Extractor`` vs unconstrained prompting.

Two real datasets (not shipped; read from ../shared/datasets or ``--data``):
  - SROIE receipts (sroie/dev.jsonl): OCR text -> {company, date, address, total}; the OCR
    text is cut to ``--max-input-tokens`` tokens (default 384) the same way for both methods;
  - SNIPS voice commands (snips/validate.jsonl): one schema per intent whose properties are
    that intent's slot names (nullable strings); items are taken evenly from the 7 intents.
Strings carry a ``maxLength`` above the longest gold value, as a real schema would.

Both methods use the same model, the same threads and the very same prompt (the Extractor's
system message with the field list and the JSON Schema, then the text):
  - edgewise: ``Extractor(engine, schema).extract_many`` -- grammar-constrained generation,
    validation, a bounded re-ask;
  - unconstrained: one ``engine.generate`` call with no grammar; the first ``{...}`` that
    ``json.loads`` accepts is taken from the reply and checked with ``jsonschema``.
Each method has its own engine (its own KV cache, so neither reuses the other's prompt) and the
two are interleaved item by item, alternating which goes first.

Scoring, per field (micro-averaged over all items and fields of a dataset):
  - predicted: the output is schema-valid and the field's value is not null or "";
  - gold: the gold value is not empty (SNIPS: the slot occurs in the utterance);
  - correct: predicted, gold, and they match after normalization (lowercase, whitespace
    collapsed, punctuation stripped at both ends). ``total`` compares as numbers when both
    parse; ``date`` compares its digits only; ``company`` and ``address`` also match when the
    normalized strings are >= 80% similar (difflib), since the gold names are corrected and the
    OCR text is not. SNIPS slot values need an exact normalized match.
  - precision = correct / predicted, recall = correct / gold, F1 their harmonic mean.
``F1 any JSON`` scores every parsed object, schema-valid or not (an upper bound for the
unconstrained baseline if its output were repaired). Target: edgewise 100% valid.

``--shots 1`` adds one made-up example per schema to the prompt of both methods.

    python benchmarks/extract.py [--n 60] [--data ../shared/datasets] [--threads 1] [--shots 0]

``--max-tokens`` (default 512, the Extractor's own) bounds both methods. The unconstrained
reply stops at its first "}" (both schemas are flat, so that closes the object that is scored);
without that it rambles on to the limit after the JSON. ``--n 10`` is a quick check.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

import edgewise
from edgewise.engines.base import Engine
from edgewise.tasks.extract import Extractor

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
FUZZY = 0.8

SROIE_FIELDS = {
    "company": "name of the business that issued the receipt, in full as printed (often "
    "ending in SDN BHD, ENTERPRISE or TRADING), not a person's name",
    "date": "date of the receipt as printed, the date only (no time)",
    "address": "the business's full address as printed, all its lines joined (no phone, GST "
    "or company numbers)",
    "total": "total amount paid, as printed (a number)",
}
# Bounds well above the longest gold value (49, 11, 118 and 8 characters; SNIPS slots 55):
# the grammar enforces them, so a model repeating itself inside a string still finishes.
SROIE_MAX_LENGTH = {"company": 64, "date": 24, "address": 128, "total": 16}
SLOT_MAX_LENGTH = 64
SROIE_INSTRUCTIONS = (
    "The text is the OCR output of a shop receipt. Extract the fields into JSON that follows "
    "the schema. Copy values from the text; use null for a field the text does not give."
)
SNIPS_INSTRUCTIONS = (
    "The text is a request to a voice assistant (intent: {intent}). Extract its slots into JSON "
    "that follows the schema. Copy the exact words from the text; use null for a slot the "
    "request does not mention."
)
# --shots 1: one made-up example per schema (not from the datasets), given to both methods.
SROIE_EXAMPLE = (
    "SUNRISE HARDWARE SDN BHD\n(1234-X)\nNO 8, JALAN MERANTI 2,\nTAMAN BUKIT INDAH,\n"
    "81200 JOHOR BAHRU, JOHOR\nTEL: 07-1234567\nTAX INVOICE\nINV NO: A1002\n"
    "DATE: 03/04/2018 10:15\nCASHIER: LIM\nHAMMER 1 x 15.90 15.90\nNAILS 2 x 3.50 7.00\n"
    "TOTAL RM 22.90\nCASH 50.00\nCHANGE 27.10\nTHANK YOU",
    {
        "company": "SUNRISE HARDWARE SDN BHD",
        "date": "03/04/2018",
        "address": "NO 8, JALAN MERANTI 2, TAMAN BUKIT INDAH, 81200 JOHOR BAHRU, JOHOR",
        "total": "22.90",
    },
)
SNIPS_EXAMPLES = {
    "AddToPlaylist": (
        "put the song Blue Morning on Anna's road trip playlist",
        {"music_item": "song", "entity_name": "Blue Morning", "playlist_owner": "Anna's",
         "playlist": "road trip"},
    ),
    "BookRestaurant": (
        "book a table at a pizzeria in Denver for three people tonight",
        {"restaurant_type": "pizzeria", "city": "Denver", "party_size_number": "three",
         "timeRange": "tonight"},
    ),
    "GetWeather": (
        "will it be windy in Lyon France tomorrow",
        {"condition_description": "windy", "city": "Lyon", "country": "France",
         "timeRange": "tomorrow"},
    ),
    "PlayMusic": (
        "play some jazz from the eighties on Deezer",
        {"genre": "jazz", "year": "eighties", "service": "Deezer"},
    ),
    "RateBook": (
        "give this novel three out of 5 points",
        {"object_select": "this", "object_type": "novel", "rating_value": "three",
         "best_rating": "5", "rating_unit": "points"},
    ),
    "SearchCreativeWork": (
        "find the TV show Silent Harbor",
        {"object_type": "TV show", "object_name": "Silent Harbor"},
    ),
    "SearchScreeningEvent": (
        "what animated movies are playing at the nearest cinema tonight",
        {"movie_type": "animated movies", "spatial_relation": "nearest",
         "object_location_type": "cinema", "timeRange": "tonight"},
    ),
}  # fmt: skip
SLOT_DESCRIPTIONS = {
    "album": "album name",
    "artist": "artist or band name",
    "best_rating": "highest possible rating",
    "city": "city",
    "condition_description": "weather condition (rain, snow, fog...)",
    "condition_temperature": "temperature word (hot, cold, warmer...)",
    "country": "country",
    "cuisine": "kind of cuisine",
    "current_location": "words for the user's current location (here...)",
    "entity_name": "name of the item to add",
    "facility": "facility wanted (pool, parking...)",
    "genre": "music genre",
    "geographic_poi": "named place such as a park or landmark",
    "location_name": "name of the cinema or theatre chain",
    "movie_name": "movie title",
    "movie_type": "kind of movie (movies, films, animated movies...)",
    "music_item": "kind of music item (song, track, album...)",
    "object_location_type": "kind of place (cinema, movie theatre...)",
    "object_name": "title of the book, album, game or show",
    "object_part_of_series_type": "series word (series, saga, chronicle...)",
    "object_select": "which one (this, current...)",
    "object_type": "kind of work (book, novel, album, movie schedule...)",
    "party_size_description": "who the party is (my mom and I...)",
    "party_size_number": "number of people",
    "playlist": "playlist name",
    "playlist_owner": "whose playlist (my, jerry's...)",
    "poi": "point of interest near which to look",
    "rating_unit": "rating unit (stars, points)",
    "rating_value": "rating given",
    "restaurant_name": "restaurant name",
    "restaurant_type": "kind of place (restaurant, pub, bar...)",
    "served_dish": "dish wanted",
    "service": "music service (Spotify, Youtube...)",
    "sort": "ranking word (best, top-rated, popular...)",
    "spatial_relation": "distance word (nearby, close by...)",
    "state": "state or region",
    "timeRange": "time or date",
    "track": "song title",
    "year": "year or decade",
}


def nullable_schema(fields: dict[str, str], max_length: dict[str, int]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            k: {"type": ["string", "null"], "description": d, "maxLength": max_length[k]}
            for k, d in fields.items()
        },
        "required": list(fields),
        "additionalProperties": False,
    }


@dataclass
class Item:
    dataset: str
    text: str
    gold: dict[str, str]
    schema_key: str  # items with the same key share one schema / Extractor


@dataclass
class Tally:
    """Counts for one method on one dataset."""

    n: int = 0
    valid: int = 0
    seconds: float = 0.0
    tp: int = 0
    predicted: int = 0
    gold: int = 0
    tp_any: int = 0
    predicted_any: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.n += other.n
        self.valid += other.valid
        self.seconds += other.seconds
        self.tp += other.tp
        self.predicted += other.predicted
        self.gold += other.gold
        self.tp_any += other.tp_any
        self.predicted_any += other.predicted_any
        self.failures.update(other.failures)

    def prf(self, lenient: bool = False) -> tuple[float, float, float]:
        tp, pred = (self.tp_any, self.predicted_any) if lenient else (self.tp, self.predicted)
        p = tp / pred if pred else 0.0
        r = tp / self.gold if self.gold else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# ---------------------------------------------------------------- data
def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sroie_items(data: Path, n: int, engine: Engine, budget: int) -> list[Item]:
    items = []
    for row in load_jsonl(data / "sroie" / "dev.jsonl")[:n]:
        toks = engine.tokenize(row["ocr_text"])
        text = engine.detokenize(toks[:budget]) if len(toks) > budget else row["ocr_text"]
        gold = {k: (row["gold"].get(k) or "") for k in SROIE_FIELDS}
        items.append(Item("sroie", text, gold, "sroie"))
    return items


def snips_items(data: Path, n: int) -> tuple[list[Item], dict[str, list[str]]]:
    rows = load_jsonl(data / "snips" / "validate.jsonl")
    slots: dict[str, Counter[str]] = {}
    by_intent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        slots.setdefault(row["intent"], Counter()).update(s["slot"] for s in row["slots"])
        by_intent.setdefault(row["intent"], []).append(row)
    # The slot inventory of an intent, most frequent first (the order the grammar emits).
    inventory = {intent: [s for s, _ in c.most_common()] for intent, c in slots.items()}
    intents = sorted(by_intent)
    items = []
    for k in range(n):
        intent = intents[k % len(intents)]
        row = by_intent[intent][k // len(intents)]
        gold: dict[str, str] = {}
        for s in row["slots"]:  # a slot that occurs twice: keep both values joined
            gold[s["slot"]] = (
                (gold[s["slot"]] + " " + s["value"]).strip() if s["slot"] in gold else s["value"]
            )
        items.append(Item("snips", row["text"], gold, intent))
    # Grouped by intent, so each intent's system prompt stays warm in both engines' caches.
    items.sort(key=lambda it: it.schema_key)
    return items, inventory


# ---------------------------------------------------------------- scoring
def norm(value: Any) -> str:
    text = " ".join(str(value).lower().split())
    return text.strip(string.punctuation + string.whitespace)


def number(value: str) -> float | None:
    m = re.search(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+", value)
    if m is None:
        return None
    try:
        return float(m.group().replace(",", ""))
    except ValueError:
        return None


def date_digits(value: str) -> str:
    """The digits of the first date-looking part (a time printed after it is ignored)."""
    m = re.search(r"\d{1,4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,4}", value)
    return re.sub(r"\D", "", m.group() if m else value)


def matches(name: str, dataset: str, pred: Any, gold: str) -> bool:
    p, g = norm(pred), norm(gold)
    if dataset == "sroie":
        if name == "total":
            a, b = number(p), number(g)
            if a is not None and b is not None:
                return abs(a - b) < 0.005
        elif name == "date":
            dp, dg = date_digits(p), date_digits(g)
            if dg:
                return dp == dg
        elif name in ("company", "address"):
            return p == g or difflib.SequenceMatcher(None, p, g).ratio() >= FUZZY
    return p == g


def score(item: Item, fields: list[str], obj: Any, valid: bool, tally: Tally) -> None:
    tally.gold += sum(1 for f in fields if item.gold.get(f))
    if not isinstance(obj, dict):
        return
    for f in fields:
        value = obj.get(f)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        hit = bool(item.gold.get(f)) and matches(f, item.dataset, value, item.gold[f])
        tally.predicted_any += 1
        tally.tp_any += hit
        if valid:
            tally.predicted += 1
            tally.tp += hit


def first_json_object(text: str) -> Any:
    """The first ``{...}`` in ``text`` that json accepts, or None."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


# ---------------------------------------------------------------- the two methods
def run_edgewise(ex: Extractor, item: Item, fields: list[str], tally: Tally) -> None:
    t0 = time.perf_counter()
    res = ex.extract_many([item.text])[0]
    tally.seconds += time.perf_counter() - t0
    tally.n += 1
    valid = res.error is None
    tally.valid += valid
    if valid:
        tally.failures[f"valid after {res.attempts} attempt(s)"] += 1
        obj = res.value
    else:
        tally.failures["error: " + (res.error or "")[:60]] += 1
        obj = first_json_object(res.raw)
        if len(tally.examples) < 2:
            tally.examples.append(res.raw)
    score(item, fields, obj, valid, tally)


def run_plain(ex: Extractor, engine: Engine, item: Item, fields: list[str], tally: Tally) -> None:
    # The very prompt the Extractor sends, generated with no grammar.
    prompt = ex._prompt(ex._messages(item.text))
    # Both schemas are flat (string or null values), so the first "}" closes the first object,
    # the one that is scored: stopping there only cuts the rambling after it.
    options = ex.options.model_copy(update={"stop": ["}"]})
    t0 = time.perf_counter()
    out = engine.generate(prompt, options)
    tally.seconds += time.perf_counter() - t0
    tally.n += 1
    text = out.text + "}" if out.finish_reason == "stop" else out.text
    obj = first_json_object(text)
    if obj is None:
        kind = "no JSON object" if "{" not in text else "malformed JSON"
        if out.finish_reason == "length":
            kind += " (hit max_tokens)"
    else:
        errors = sorted(ex.validator.iter_errors(obj), key=lambda e: e.path)
        kind = "valid" if not errors else "schema: " + _schema_error(errors[0])
        if errors and "properties" in obj:
            kind = "schema: echoed the JSON Schema"
    valid = kind == "valid"
    tally.valid += valid
    tally.failures[kind] += 1
    if not valid and len(tally.examples) < 3:
        tally.examples.append(text)
    score(item, fields, obj, valid, tally)


def _schema_error(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return "extra keys"
    if err.validator == "required":
        return "missing keys"
    if err.validator == "type":
        return "wrong value type"
    return str(err.validator)


# ---------------------------------------------------------------- report
def ratio(a: float, b: float) -> str:
    if b == 0:
        return "   n/a" if a == 0 else "   inf"
    return f"{a / b:6.2f}"


def row(name: str, t: Tally) -> str:
    p, r, f1 = t.prf()
    f1_any = t.prf(lenient=True)[2]
    rate = t.n / t.seconds if t.seconds else 0.0
    return (
        f"{name:<14} {t.n:>5} {t.valid / max(t.n, 1):>7.1%} {p:>6.2f} {r:>6.2f} {f1:>6.2f} "
        f"{f1_any:>8.2f} {rate:>8.2f} {t.seconds:>8.1f}"
    )


def report(label: str, ew: Tally, plain: Tally) -> None:
    print(f"\n== {label}")
    print(
        f"{'method':<14} {'items':>5} {'valid':>7} {'P':>6} {'R':>6} {'F1':>6} "
        f"{'F1 any':>8} {'items/s':>8} {'seconds':>8}"
    )
    print(row("edgewise", ew))
    print(row("unconstrained", plain))
    print(
        f"edgewise / unconstrained: valid rate {ratio(ew.valid, plain.valid)}, "
        f"F1 {ratio(ew.prf()[2], plain.prf()[2])}, "
        f"items/s {ratio(ew.n / max(ew.seconds, 1e-9), plain.n / max(plain.seconds, 1e-9))}"
    )


def outcomes(name: str, t: Tally) -> None:
    print(f"{name} outcomes: " + ", ".join(f"{k} {v}" for k, v in t.failures.most_common()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the datasets folder")
    p.add_argument("--n", type=int, default=60, help="items per dataset (default 60)")
    p.add_argument(
        "--model", default="smollm2-135m", help="catalog name, registered name or GGUF path"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for both methods (default 1: robust on a busy machine)",
    )
    p.add_argument(
        "--max-input-tokens", type=int, default=384, help="budget for a receipt's OCR text"
    )
    p.add_argument(
        "--max-tokens", type=int, default=512, help="most tokens generated per call (both)"
    )
    p.add_argument("--max-retries", type=int, default=2, help="edgewise re-asks")
    p.add_argument(
        "--shots",
        type=int,
        choices=(0, 1),
        default=0,
        help="1: one made-up example per schema in the prompt (both methods); default 0",
    )
    args = p.parse_args()
    missing = [
        str(args.data / f) for f in ("sroie/dev.jsonl", "snips/validate.jsonl")
        if not (args.data / f).is_file()
    ]  # fmt: skip
    if missing:
        sys.exit(f"dataset files not found: {', '.join(missing)} (pass --data DIR)")

    ours = edgewise.load(args.model, threads=args.threads)
    theirs = edgewise.load(args.model, threads=args.threads)
    items = sroie_items(args.data, args.n, ours, args.max_input_tokens)
    snips, inventory = snips_items(args.data, args.n)
    items += snips
    extractors: dict[str, tuple[Extractor, list[str]]] = {}

    def extractor(key: str) -> tuple[Extractor, list[str]]:
        if key not in extractors:
            if key == "sroie":
                fields, instructions = SROIE_FIELDS, SROIE_INSTRUCTIONS
                bounds = SROIE_MAX_LENGTH
                example = SROIE_EXAMPLE
            else:
                fields = {s: SLOT_DESCRIPTIONS.get(s, s) for s in inventory[key]}
                instructions = SNIPS_INSTRUCTIONS.format(intent=key)
                bounds = dict.fromkeys(fields, SLOT_MAX_LENGTH)
                example = SNIPS_EXAMPLES.get(key, ("", {}))
            examples = []
            if args.shots and example[0]:
                filled = {f: example[1].get(f) for f in fields}  # every key, as required
                examples.append((example[0], filled))
            ex = Extractor(
                ours,
                nullable_schema(fields, bounds),
                instructions=instructions,
                max_retries=args.max_retries,
                max_tokens=args.max_tokens,
                examples=examples,
            )
            extractors[key] = (ex, list(fields))
        return extractors[key]

    tallies = {(d, m): Tally() for d in ("sroie", "snips") for m in ("edgewise", "plain")}
    t_start = time.perf_counter()
    for k, item in enumerate(items):
        ex, fields = extractor(item.schema_key)
        ew, pl = tallies[item.dataset, "edgewise"], tallies[item.dataset, "plain"]
        if k % 2 == 0:
            run_edgewise(ex, item, fields, ew)
            run_plain(ex, theirs, item, fields, pl)
        else:
            run_plain(ex, theirs, item, fields, pl)
            run_edgewise(ex, item, fields, ew)
        print(
            f"\r{item.dataset} {k + 1}/{len(items)}  {time.perf_counter() - t_start:6.0f} s",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)

    print(
        f"model {ours.name}, threads {args.threads}, max_tokens {args.max_tokens}, "
        f"SROIE OCR text cut to {args.max_input_tokens} tokens, edgewise re-asks <= "
        f"{args.max_retries}, {args.shots}-shot; valid = parses and validates against the schema"
    )
    total_ew, total_plain = Tally(), Tally()
    for d, label in (("sroie", "SROIE receipts"), ("snips", "SNIPS slots (schema per intent)")):
        ew, pl = tallies[d, "edgewise"], tallies[d, "plain"]
        report(f"{label}: {ew.n} items", ew, pl)
        total_ew.add(ew)
        total_plain.add(pl)
    report(f"overall: {total_ew.n} items", total_ew, total_plain)
    print()
    outcomes("edgewise", total_ew)
    outcomes("unconstrained", total_plain)
    for d in ("sroie", "snips"):
        for text in tallies[d, "plain"].examples[:2]:
            short = " ".join(text.split())
            print(f"  unconstrained {d} example: {short[:150]!r}")
        for text in tallies[d, "edgewise"].examples[:2]:
            print(f"  edgewise {d} failure: {' '.join(text.split())[:150]!r}")
    target = "met" if total_ew.valid == total_ew.n else "NOT met"
    print(f"\ntarget edgewise 100% valid: {target} ({total_ew.valid}/{total_ew.n})")


if __name__ == "__main__":
    main()
