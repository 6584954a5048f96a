"""Triage throughput and accuracy: edgewise ``classify_many`` vs the naive way, side by side.

The naive way is what an app would write with llama-cpp-python: one ``create_chat_completion``
per item on one ``Llama`` object, with the same instructions, label descriptions and few-shot
examples in its prompt and the same item text cut to the same token budget, asking for the
label and parsing the answer (the first label name in the reply; anything else counts as
wrong). llama-cpp-python already reuses the prompt prefix shared by consecutive calls, so the
baseline pays for each item's own tokens plus a few generated ones.

edgewise scores the labels as continuations (no generation, no parsing), evaluates a batch's
items as sequences sharing the prefix's KV cache, calibrates, and can run on a weight format
made for this CPU from the shipped Q4_1 file (``--fast``): F32, its exact expansion (the same
model, evaluated by llama.cpp's F32 matrix kernels); Q4_0 and IQ4_NL, whose matrices llama.cpp
repacks for AVX2; and Q8_0 (a GGUF path works too).

Datasets: the shipped inbox (labels from its X-Expected-Label headers), SpamAssassin emails
(ham/spam, 8 few-shot examples from its dev file, body budget 256 tokens) and short texts (the
same emails' subject lines). The methods run on the same items in rounds that alternate them,
so a host whose speed drifts during the run (these VMs' does, by 30% and more) weighs on all
alike. "of bound": items/s against the items' own tokens divided by the rate of one 512-token
prompt evaluation through llama.cpp for the same file and threads. "@prefix": the same with the
rate measured after a prefix as long as the task's prompt (instructions, labels, few-shot
examples), whose attention every item's tokens pay in both ways.

    .venv/bin/python benchmarks/triage.py [--emails 100] [--short 492] [--rounds 5] [--datasets DIR]
"""

from __future__ import annotations

import json
import mailbox
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import naive_classify_prompt, parser, plain_llama

import edgewise
from edgewise.config import Settings
from edgewise.tasks.classify import Classifier, Example
from edgewise.tasks.mail import read_inbox
from edgewise.tasks.triage import DESCRIPTIONS, EXAMPLES, LABELS

ROOT = Path(__file__).resolve().parents[1]
SPAM_DESCRIPTIONS = {
    "ham": "a normal personal, work or mailing-list email",
    "spam": "unsolicited bulk advertising, scam or phishing",
}


def cut(engine: Any, text: str, budget: int) -> str:
    toks = engine.tokenize(text)
    return text if len(toks) <= budget else engine.detokenize(toks[:budget])


def load_inbox() -> tuple[list[str], list[str]]:
    expected = {}
    for msg in mailbox.mbox(str(ROOT / "examples" / "inbox.mbox")):
        if msg["Message-ID"]:
            expected[msg["Message-ID"].strip("<>")] = msg["X-Expected-Label"]
    mails = [m for m in read_inbox(ROOT / "examples" / "inbox.mbox") if m.error is None]
    return [m.as_text() for m in mails], [expected[m.id] for m in mails]


def load_spam(datasets: Path, n: int, short: bool) -> tuple[list[str], list[str], list[Example]]:
    path = datasets / "spamassassin" / "dev.jsonl"
    if not path.is_file():
        sys.exit(f"{path} not found: pass --datasets DIR (the shared datasets folder)")
    rows = [json.loads(line) for line in path.open()]
    random.Random(0).shuffle(rows)
    hams = [r for r in rows if r["label"] == "ham"][:4]
    spams = [r for r in rows if r["label"] == "spam"][:4]
    shots = [r for pair in zip(hams, spams) for r in pair]
    rest = [r for r in rows if r not in shots][:n]

    def text(r: dict[str, Any]) -> str:
        if short:
            return r["subject"] or "(no subject)"
        return f"Subject: {r['subject']}\nFrom: {r['from']}\n\n{r['body']}"

    examples = [Example(text=text(r)[:600], label=r["label"]) for r in shots]
    return [text(r) for r in rest], [r["label"] for r in rest], examples


def naive(
    llm: Any,
    labels: list[str],
    descriptions: dict[str, str],
    examples: list[Example],
) -> Callable[[list[str]], list[str | None]]:
    """The naive way as a function of a chunk of texts (the same Llama object throughout)."""
    system, shots = naive_classify_prompt(labels, descriptions, examples)
    by_length = sorted(labels, key=len, reverse=True)

    def run(texts: list[str]) -> list[str | None]:
        out: list[str | None] = []
        for text in texts:
            messages = [{"role": "system", "content": system}, *shots]
            messages.append({"role": "user", "content": f"Text:\n{text}"})
            reply = llm.create_chat_completion(messages=messages, max_tokens=8, temperature=0.0)
            answer = (reply["choices"][0]["message"]["content"] or "").lower()
            out.append(next((lab for lab in by_length if lab.lower() in answer), None))
        return out

    return run


def ours(
    engine: Any,
    labels: list[str],
    descriptions: dict[str, str],
    examples: list[Example],
    budget: int,
    texts: list[str],
) -> Callable[[list[str]], list[str | None]]:
    """edgewise as a function of a chunk of ``texts`` (one Classifier: the prefix stays warm).

    The first call also computes the calibration from all of ``texts``, as one
    ``classify_many`` call over the whole set (what ``edgewise triage`` makes) would.
    """
    clf = Classifier(
        engine, labels, descriptions=descriptions, examples=examples, max_input_tokens=budget
    )

    def run(chunk: list[str]) -> list[str | None]:
        clf.prepare(texts)  # a no-op after the first call
        return [r.label for r in clf.classify_many(chunk)]

    return run


def interleaved(
    methods: dict[str, Callable[[list[str]], list[str | None]]], texts: list[str], rounds: int
) -> dict[str, tuple[list[str | None], float]]:
    """Every method on the same items, in rounds that alternate the methods (each round
    starts with the next method), so a host that slows down or speeds up during the run
    weighs on all of them alike. Returns predictions and summed seconds per method."""
    names = list(methods)
    preds: dict[str, list[str | None]] = {n: [] for n in names}
    secs = dict.fromkeys(names, 0.0)
    size = -(-len(texts) // rounds)
    for r in range(rounds):
        chunk = texts[r * size : (r + 1) * size]
        if not chunk:
            break
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            preds[name] += methods[name](chunk)
            secs[name] += time.perf_counter() - t0
    return {n: (preds[n], secs[n]) for n in names}


def prompt_rate(engine: Any, after: int = 0) -> float:
    """Tokens/s of one 512-token prompt evaluation through llama.cpp (best of 3), at the
    start of the context or ``after`` tokens of an evaluated prefix.

    Measured through the engine's own llama_decode call, so the weights sit in the same
    buffers (repacked Q4_0 included) as in the classification runs.
    """
    toks = engine.tokenize("The quick brown fox jumps over the lazy dog. " * (80 + after // 10))
    head, toks = toks[: max(after, 1)], toks[max(after, 1) :][:512]
    engine.score_batch(head, [toks[:1]], ["a"])  # the prefix is evaluated once, then cached
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        engine.score_batch(head, [toks], ["a"])
        best = min(best, time.perf_counter() - t)
    return len(toks) / best


def accuracy(pred: list[str | None], gold: list[str]) -> float:
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--emails", type=int, default=100, help="SpamAssassin emails to classify")
    p.add_argument(
        "--short", type=int, default=492, help="subject lines to classify (492: all but the shots)"
    )
    p.add_argument("--budget", type=int, default=256, help="token budget for an email's text")
    p.add_argument(
        "--fast",
        default="smollm2-135m:F32,smollm2-135m:Q4_0,smollm2-135m:IQ4_NL,smollm2-135m:Q8_0",
        help="comma-separated fast-format models (made from the shipped file on first use)",
    )
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--only", default="inbox,emails,short", help="datasets to run")
    p.add_argument(
        "--rounds", type=int, default=5, help="rounds the methods alternate in (see interleaved)"
    )
    args = p.parse_args()
    threads = args.threads or Settings.from_env().threads

    shipped = edgewise.load(args.model, threads=threads)
    fast = [edgewise.load(name, threads=threads) for name in args.fast.split(",") if name]
    llm = plain_llama(str(shipped.path), threads)
    engines = {"shipped": shipped, **{f.name: f for f in fast}}
    rates = {key: prompt_rate(eng) for key, eng in engines.items()}
    print(f"model {shipped.name} ({shipped.info.file_type}), {threads} threads")
    print(
        "512-token prompt rate: "
        + ", ".join(f"{key} {rate:.0f} tok/s" for key, rate in rates.items())
        + "\n"
    )

    sets: list[tuple[str, list[str], list[str], list[str], dict[str, str], list[Example], int]] = []
    only = set(args.only.split(","))
    if "inbox" in only:
        texts, gold = load_inbox()
        sets.append(("inbox", texts, gold, LABELS, DESCRIPTIONS, EXAMPLES, args.budget))
    if "emails" in only:
        texts, gold, shots = load_spam(args.datasets, args.emails, short=False)
        sets.append(("emails", texts, gold, ["ham", "spam"], SPAM_DESCRIPTIONS, shots, args.budget))
    if "short" in only:
        texts, gold, shots = load_spam(args.datasets, args.short, short=True)
        sets.append(("short", texts, gold, ["ham", "spam"], SPAM_DESCRIPTIONS, shots, 60))

    header = (
        f"{'dataset':<8} {'items':>5} {'tok/item':>8} {'method':<30} {'items/s':>8} "
        f"{'accuracy':>8} {'vs naive':>8} {'of bound':>8} {'@prefix':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, texts, gold, labels, desc, shots, budget in sets:
        texts = [cut(shipped, t, budget) for t in texts]
        shots = [Example(text=cut(shipped, e.text, 128), label=e.label) for e in shots]
        per_item = sum(len(shipped.tokenize(t)) for t in texts) / len(texts)
        methods = {"naive llama-cpp-python": naive(llm, labels, desc, shots)}
        which = {"naive llama-cpp-python": "shipped"}
        for key, eng in engines.items():
            methods[f"edgewise {key}"] = ours(eng, labels, desc, shots, budget, texts)
            which[f"edgewise {key}"] = key
        # the rate after a prefix as long as this task's prompt: attention over the few-shot
        # prefix costs every item's tokens, in both ways, but not in the 512-token bound
        n_prefix = Classifier(
            shipped, labels, descriptions=desc, examples=shots, max_input_tokens=budget
        ).prefix_tokens
        at_prefix = {key: prompt_rate(eng, n_prefix) for key, eng in engines.items()}
        results = interleaved(methods, texts, min(args.rounds, len(texts)))
        base = len(texts) / results["naive llama-cpp-python"][1]
        for method, (pred, secs) in results.items():
            ips = len(texts) / secs
            key = which[method]
            print(
                f"{name:<8} {len(texts):>5} {per_item:>8.0f} {method:<30} {ips:>8.2f} "
                f"{accuracy(pred, gold):>8.3f} {ips / base:>7.2f}x "
                f"{ips / (rates[key] / per_item):>7.0%} {ips / (at_prefix[key] / per_item):>7.0%}"
            )
        print(
            f"({n_prefix}-token prompt prefix; 512-token rate after it: "
            + ", ".join(f"{k} {v:.0f}" for k, v in at_prefix.items())
            + " tok/s)\n"
        )


if __name__ == "__main__":
    main()
