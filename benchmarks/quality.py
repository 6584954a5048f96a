"""Task quality per model: every edgewise task beside the naive way on the same model.

For each installed model (default: smollm2-135m, gemma3-270m, qwen2.5-coder-0.5b,
qwen2.5-coder-1.5b) on the development splits in ../shared/datasets (``--data``) and the
shipped inbox, each task runs twice on the same engine:
  - edgewise: the task API a user calls (``Classifier``/``triage``, ``Extractor``,
    ``Summarizer``) with its defaults for that model;
  - naive: one chat call per item with the same instructions (label descriptions, few-shot
    examples, field list and schema, summary request) and the same input budget, and the
    answer parsed: the first label named in the reply, the first JSON object, the reply's text.

Tasks and metrics (``--tasks``, comma-separated):
  - spam_emails, spam_subjects: SpamAssassin ham/spam, zero-shot with two label descriptions
    (emails: subject, sender and body cut to 256 tokens). Accuracy and macro-F1.
  - inbox: the 25 labelled messages of examples/inbox.mbox (X-Expected-Label), triage's own
    labels, descriptions and examples. Accuracy and macro-F1.
  - banking77: the 77 intent names, zero-shot. Accuracy and macro-F1.
  - xsid_en, xsid_de, xsid_it: xSID intents (16 names), zero-shot. Accuracy and macro-F1.
  - sroie: receipts -> {company, date, address, total}; per-field accuracy (company and
    address by 80% similarity, date by its digits, total by value), valid rate.
  - snips: voice commands -> slots (one schema per intent); field F1 and valid rate.
  - dialogsum: tl;dr (medium: at most 3 sentences); ROUGE-L F1 against the reference.
  - aeslc: email -> headline (short: at most 10 words) against the real subject; ROUGE-L.
Every row also gives seconds per item. Items are taken evenly through each file (``--n`` per
task), the same for every model and method.

    python benchmarks/quality.py [--n 40] [--models a,b] [--tasks spam_emails,inbox] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import mailbox
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import edgewise
from edgewise.bench.metrics import classification_report, rouge_l
from edgewise.engines.base import Engine
from edgewise.tasks.classify import Classifier
from edgewise.tasks.extract import Extractor
from edgewise.tasks.mail import read_inbox
from edgewise.tasks.summarize import ASK, BUDGETS, Summarizer
from edgewise.tasks.triage import DESCRIPTIONS, EXAMPLES, LABELS, triage_classifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import naive_classify_prompt  # noqa: E402  (sibling benchmark modules)
from extract import (  # noqa: E402
    SLOT_DESCRIPTIONS,
    SLOT_MAX_LENGTH,
    SNIPS_INSTRUCTIONS,
    SROIE_FIELDS,
    SROIE_INSTRUCTIONS,
    SROIE_MAX_LENGTH,
    first_json_object,
    matches,
    nullable_schema,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
MODELS = ("smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
TASKS = (
    "inbox",
    "spam_emails",
    "spam_subjects",
    "banking77",
    "xsid_en",
    "xsid_de",
    "xsid_it",
    "sroie",
    "snips",
    "dialogsum",
    "aeslc",
)
BODY_TOKENS = 256
SROIE_TOKENS = 512
SPAM_LABELS = ["ham", "spam"]
# what a user would say about their texts (given to edgewise and to the naive call alike)
AESLC_CONTEXT = "The text is an email; the headline is its subject line."
# what a user would write for a spam filter: the two label descriptions
SPAM_DESCRIPTIONS = {
    "ham": "a legitimate email the recipient wants: personal or work mail, or a mailing-list "
    "post, newsletter or notice they subscribed to",
    "spam": "unsolicited bulk email: advertising, scams, phishing, get-rich-quick or adult offers",
}


@dataclass
class Row:
    """One (task, model, method) result."""

    task: str
    model: str
    method: str
    n: int = 0
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    errors: int = 0

    @property
    def per_item(self) -> float:
        return self.seconds / self.n if self.n else float("nan")


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def spread(rows: list[Any], n: int) -> list[Any]:
    """``n`` items taken evenly through ``rows`` (the files are grouped by class)."""
    if n >= len(rows):
        return list(rows)
    step = len(rows) / n
    return [rows[int(k * step)] for k in range(n)]


def cut(engine: Engine, text: str, budget: int) -> str:
    toks = engine.tokenize(text)
    return text if len(toks) <= budget else engine.detokenize(toks[:budget])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# ---------------------------------------------------------------- classification
def naive_labels(
    engine: Engine,
    texts: Sequence[str],
    labels: Sequence[str],
    descriptions: dict[str, str] | None,
    examples: Sequence[Any] = (),
) -> list[str | None]:
    """One chat call per text; the reply's first label (longest names tried first)."""
    system, shots = naive_classify_prompt(list(labels), descriptions, examples)
    by_length = sorted(labels, key=len, reverse=True)
    budget = max(len(engine.tokenize(lab)) for lab in labels) + 8
    out: list[str | None] = []
    for text in texts:
        if engine.chat_mode:
            msgs = [{"role": "system", "content": system}, *shots]
            msgs.append({"role": "user", "content": f"Text:\n{text}"})
            prompt: Any = msgs
        else:
            parts = [system, ""] + [
                f"Text: {s['content'][6:]}\nLabel: {a['content']}\n"
                for s, a in zip(shots[::2], shots[1::2])
            ]
            prompt = "\n".join([*parts, f"Text: {text}\nLabel:"])
        reply = engine.generate(
            prompt, {"max_tokens": budget, "temperature": 0.0, "stop": ["\n"]}
        ).text
        answer = reply.lower()
        words = re.sub(r"[^\w/]+", " ", answer)
        out.append(
            next(
                (
                    lab
                    for lab in by_length
                    if lab.lower() in answer or lab.lower().replace("_", " ") in words
                ),
                None,
            )
        )
    return out


def score_labels(
    row: Row, gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]
) -> None:
    report = classification_report(gold, pred, labels)
    row.metrics = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    row.errors = sum(p is None for p in pred)


def classification_task(
    engine: Engine,
    task: str,
    model: str,
    texts: list[str],
    gold: list[str],
    labels: list[str],
    descriptions: dict[str, str] | None,
    budget: int | None,
    examples: Sequence[Any] = (),
    classifier: Classifier | None = None,
) -> list[Row]:
    clf = classifier or Classifier(
        engine,
        labels,
        descriptions=descriptions,
        examples=list(examples),
        max_input_tokens=budget,
    )
    ours = Row(task, model, "edgewise", len(texts))
    ours.seconds, results = timed(lambda: clf.classify_many(texts))
    score_labels(ours, gold, [r.label for r in results], labels)
    ours.metrics["abstained"] = sum(r.abstained for r in results) / max(len(results), 1)
    plain = Row(task, model, "naive", len(texts))
    cut_texts = [cut(engine, t, budget) if budget else t for t in texts]
    plain.seconds, pred = timed(
        lambda: naive_labels(engine, cut_texts, labels, descriptions, examples)
    )
    score_labels(plain, gold, pred, labels)
    return [ours, plain]


def spam(engine: Engine, model: str, data: Path, n: int, subjects: bool) -> list[Row]:
    rows = spread(load_jsonl(data / "spamassassin" / "dev.jsonl"), n)
    if subjects:
        texts = [r["subject"] or "(no subject)" for r in rows]
    else:
        texts = [f"Subject: {r['subject']}\nFrom: {r['from']}\n\n{r['body']}" for r in rows]
    task = "spam_subjects" if subjects else "spam_emails"
    budget = None if subjects else BODY_TOKENS
    gold = [r["label"] for r in rows]
    return classification_task(
        engine, task, model, texts, gold, SPAM_LABELS, SPAM_DESCRIPTIONS, budget
    )


def inbox(engine: Engine, model: str) -> list[Row]:
    path = ROOT / "examples" / "inbox.mbox"
    expected = {
        m["Message-ID"].strip("<>"): m["X-Expected-Label"]
        for m in mailbox.mbox(str(path))
        if m["Message-ID"]
    }
    mails = [m for m in read_inbox(path) if m.error is None and m.id in expected]
    clf = triage_classifier(engine)
    return classification_task(
        engine,
        "inbox",
        model,
        [m.as_text() for m in mails],
        [expected[m.id] for m in mails],
        LABELS,
        DESCRIPTIONS,
        clf.max_input_tokens,
        EXAMPLES,
        classifier=clf,
    )


def intents(engine: Engine, model: str, task: str, data: Path, n: int) -> list[Row]:
    if task == "banking77":
        all_rows = load_jsonl(data / "banking77" / "dev.jsonl")
        labels = json.loads((data / "banking77" / "categories.json").read_text())
    else:
        all_rows = load_jsonl(data / "xsid" / f"{task[5:]}.dev.jsonl")
        labels = sorted({r["intent"] for r in all_rows})
    rows = spread(sorted(all_rows, key=lambda r: r["label" if "label" in r else "intent"]), n)
    gold = [r.get("label") or r["intent"] for r in rows]
    return classification_task(
        engine, task, model, [r["text"] for r in rows], gold, list(labels), None, None
    )


# ---------------------------------------------------------------- extraction
def extraction_rows(
    engine: Engine,
    task: str,
    model: str,
    items: list[tuple[str, dict[str, str], Extractor, list[str]]],
    dataset: str,
) -> list[Row]:
    ours, plain = Row(task, model, "edgewise"), Row(task, model, "naive")
    fields_all = sorted({f for *_, fields in items for f in fields})
    hits = {m: dict.fromkeys(fields_all, 0) for m in ("edgewise", "naive")}
    counts = {m: {"tp": 0, "pred": 0, "gold": 0, "valid": 0} for m in ("edgewise", "naive")}
    for text, gold, ex, fields in items:
        for method, row in (("edgewise", ours), ("naive", plain)):
            if method == "edgewise":
                sec, res = timed(lambda ex=ex, text=text: ex.extract_many([text])[0])
                valid = res.error is None
                obj = res.value if valid else None
            else:
                prompt = ex._prompt(ex._messages(text))
                sec, out = timed(lambda ex=ex, prompt=prompt: engine.generate(prompt, ex.options))
                obj = first_json_object(out.text)
                valid = obj is not None and not list(ex.validator.iter_errors(obj))
            row.seconds += sec
            row.n += 1
            c = counts[method]
            c["valid"] += valid
            c["gold"] += sum(1 for f in fields if gold.get(f))
            if not isinstance(obj, dict):
                continue
            for f in fields:
                value = obj.get(f)
                if value is None or (isinstance(value, str) and not value.strip()):
                    continue
                c["pred"] += 1
                hit = bool(gold.get(f)) and matches(f, dataset, value, gold[f])
                c["tp"] += hit
                hits[method][f] += hit
    for method, row in (("edgewise", ours), ("naive", plain)):
        c = counts[method]
        p = c["tp"] / c["pred"] if c["pred"] else 0.0
        r = c["tp"] / c["gold"] if c["gold"] else 0.0
        row.metrics = {
            "valid": c["valid"] / max(row.n, 1),
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
        }
        if dataset == "sroie":
            for f in fields_all:
                row.metrics[f] = hits[method][f] / max(row.n, 1)
    return [ours, plain]


def sroie(engine: Engine, model: str, data: Path, n: int) -> list[Row]:
    schema = nullable_schema(SROIE_FIELDS, SROIE_MAX_LENGTH)
    ex = Extractor(engine, schema, instructions=SROIE_INSTRUCTIONS)
    items = []
    for row in spread(load_jsonl(data / "sroie" / "dev.jsonl"), n):
        gold = {k: (row["gold"].get(k) or "") for k in SROIE_FIELDS}
        items.append((cut(engine, row["ocr_text"], SROIE_TOKENS), gold, ex, list(SROIE_FIELDS)))
    return extraction_rows(engine, "sroie", model, items, "sroie")


def snips(engine: Engine, model: str, data: Path, n: int) -> list[Row]:
    rows = load_jsonl(data / "snips" / "validate.jsonl")
    inventory: dict[str, dict[str, int]] = {}
    for r in rows:
        for s in r["slots"]:
            inventory.setdefault(r["intent"], {}).setdefault(s["slot"], 0)
            inventory[r["intent"]][s["slot"]] += 1
    extractors: dict[str, tuple[Extractor, list[str]]] = {}
    items = []
    for r in spread(rows, n):
        intent = r["intent"]
        if intent not in extractors:
            slots = sorted(inventory[intent], key=lambda s: -inventory[intent][s])
            fields = {s: SLOT_DESCRIPTIONS.get(s, s) for s in slots}
            schema = nullable_schema(fields, dict.fromkeys(fields, SLOT_MAX_LENGTH))
            ex = Extractor(engine, schema, instructions=SNIPS_INSTRUCTIONS.format(intent=intent))
            extractors[intent] = (ex, list(fields))
        gold: dict[str, str] = {}
        for s in r["slots"]:
            gold[s["slot"]] = (gold.get(s["slot"], "") + " " + s["value"]).strip()
        ex, fields = extractors[intent]
        items.append((r["text"], gold, ex, fields))
    return extraction_rows(engine, "snips", model, items, "snips")


# ---------------------------------------------------------------- summaries
def summary_task(
    engine: Engine,
    task: str,
    model: str,
    texts: list[str],
    refs: list[list[str]],
    kind: str,
    length: str,
    context: str | None = None,
) -> list[Row]:
    """Summarizer beside one chat call that asks the same thing (its request, length, context)."""
    summarizer = Summarizer(engine, type=kind, length=length, context=context)  # type: ignore[arg-type]
    ask = ASK[kind].format(n=BUDGETS[kind][length])
    if context:
        ask = f"{context}\n{ask}"
    ours, plain = Row(task, model, "edgewise"), Row(task, model, "naive")
    scores: dict[str, list[float]] = {"edgewise": [], "naive": []}
    for text, ref in zip(texts, refs):
        sec, summary = timed(lambda text=text: summarizer.summarize(text).text)
        ours.seconds += sec
        scores["edgewise"].append(max(rouge_l(r, summary) for r in ref))
        if engine.chat_mode:
            prompt: Any = [{"role": "user", "content": f"{text}\n\n{ask}"}]
        else:
            prompt = f"{text}\n\n{ask}\n"
        sec, out = timed(
            lambda prompt=prompt: (
                engine.generate(prompt, {"max_tokens": 160, "temperature": 0.0}).text
            )
        )
        plain.seconds += sec
        scores["naive"].append(max(rouge_l(r, out.strip()) for r in ref))
    for method, row in (("edgewise", ours), ("naive", plain)):
        row.n = len(texts)
        row.metrics = {"rouge_l": sum(scores[method]) / max(len(texts), 1)}
    return [ours, plain]


def dialogsum(engine: Engine, model: str, data: Path, n: int) -> list[Row]:
    rows = spread(load_jsonl(data / "dialogsum" / "dev.jsonl"), n)
    return summary_task(
        engine,
        "dialogsum",
        model,
        [r["dialogue"] for r in rows],
        [[r["summary"]] for r in rows],
        "tldr",
        "medium",
    )


def aeslc(engine: Engine, model: str, data: Path, n: int) -> list[Row]:
    rows = spread(load_jsonl(data / "aeslc" / "dev.jsonl"), n)
    return summary_task(
        engine,
        "aeslc",
        model,
        [r["email_body"] for r in rows],
        [[r["subject"], *r.get("annotated_subjects", [])] for r in rows],
        "headline",
        "short",
        context=AESLC_CONTEXT,
    )


# ---------------------------------------------------------------- main
def run_task(engine: Engine, model: str, task: str, data: Path, n: int) -> list[Row]:
    if task == "inbox":
        return inbox(engine, model)
    if task in ("spam_emails", "spam_subjects"):
        return spam(engine, model, data, n, subjects=task == "spam_subjects")
    if task == "banking77" or task.startswith("xsid_"):
        return intents(engine, model, task, data, n)
    return {"sroie": sroie, "snips": snips, "dialogsum": dialogsum, "aeslc": aeslc}[task](
        engine, model, data, n
    )


def fmt(row: Row) -> str:
    parts = []
    for k, v in row.metrics.items():
        if k == "abstained" and not v:
            continue
        parts.append(f"{k} {v:.2f}")
    return ", ".join(parts) + f"; {row.per_item:.2f} s/item"


HEADLINE = {
    "inbox": "accuracy",
    "spam_emails": "accuracy",
    "spam_subjects": "accuracy",
    "banking77": "accuracy",
    "xsid_en": "accuracy",
    "xsid_de": "accuracy",
    "xsid_it": "accuracy",
    "sroie": "f1",
    "snips": "f1",
    "dialogsum": "rouge_l",
    "aeslc": "rouge_l",
}


def summary_table(rows: list[Row], models: list[str], tasks: list[str]) -> str:
    """Task x model: edgewise (naive) on the headline metric, and s/item."""
    cells = {(r.task, r.model, r.method): r for r in rows}
    head = ["task (metric)", *models]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in tasks:
        metric = HEADLINE[task]
        out = [f"{task} ({metric})"]
        for model in models:
            ours, plain = cells.get((task, model, "edgewise")), cells.get((task, model, "naive"))
            if ours is None or plain is None:
                out.append("-")
                continue
            out.append(
                f"**{ours.metrics[metric]:.2f}** ({plain.metrics[metric]:.2f}), "
                f"{ours.per_item:.1f} s ({plain.per_item:.1f} s)"
            )
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared datasets folder")
    p.add_argument("--n", type=int, default=40, help="items per task (default 40)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    p.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks")
    p.add_argument("--threads", type=int, default=None, help="threads (default: physical cores)")
    p.add_argument("--json", type=Path, default=None, help="write every row as JSON here")
    args = p.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        sys.exit(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    if not args.data.is_dir() and tasks != ["inbox"]:
        sys.exit(f"{args.data} not found: pass --data DIR (the shared datasets folder)")
    models = []
    for name in (m.strip() for m in args.models.split(",") if m.strip()):
        try:
            edgewise.resolve(name)
        except edgewise.EdgewiseError as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        models.append(name)
    rows: list[Row] = []
    for model in models:
        kwargs = {"threads": args.threads} if args.threads else {}
        engine = edgewise.load(model, **kwargs)
        for task in tasks:
            t0 = time.perf_counter()
            got = run_task(engine, model, task, args.data, args.n)
            rows += got
            for r in got:
                print(f"{model:<20} {task:<14} {r.method:<9} n={r.n:<3} {fmt(r)}", flush=True)
            print(f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        engine.close()
    print()
    print("edgewise (naive) on the headline metric, and seconds per item:")
    print(summary_table(rows, models, tasks))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
