"""Learning curve of classify(profile=...): accuracy after 0, 10, 25, ... user corrections.

    python benchmarks/personal_learning.py [--data ../shared/datasets] [--dev 200] [--threads 2]

Corrections are drawn from each dataset's training side in a fixed random order (seed 0);
accuracy is measured on held-out rows the corrections never include:
- banking77 (77 intents): 10 training rows per intent (770) shuffled, so the first n are a random
  draw and all 770 are 10 per intent; test: the first ``--dev`` rows of dev.jsonl after a seeded
  shuffle (200 by default, to keep the zero-correction model pass, about 1.5 s per text for 77
  labels, within minutes; ``--dev 1000`` for all of them).
- spamassassin (spam/ham, 500 emails): a stratified half as corrections (250), the other half
  as test (subject + the first 600 characters of the body); ``--n`` (100) of the test half.
- xSID German (15 intents, 300 rows): half as corrections (147), ``--n`` of the other half.
A curve stops where the corrections run out. Each point prints three columns: the bundled model
alone with the same prompt (the point-0 figure, repeated), the corrections alone (kNN + linear
head, no model) and edgewise (both), then the model's weight, the corrections' leave-one-out
accuracy and whether they went into prompts as examples (trusted). Targets (issue 7): banking77 >= 55% at 200, >= 83% at 770,
and never below the zero-correction accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

POINTS = [0, 10, 25, 50, 100, 200, 770]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stratified(items: list[tuple[str, str]], per: int, rng: random.Random) -> list[tuple[str, str]]:
    by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for it in items:
        by[it[1]].append(it)
    out = []
    for lab in sorted(by):
        group = by[lab][:]
        rng.shuffle(group)
        out += group[:per]
    rng.shuffle(out)
    return out


def halves(items: list[tuple[str, str]], rng: random.Random):
    by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for it in items:
        by[it[1]].append(it)
    a, b = [], []
    for lab in sorted(by):
        group = by[lab][:]
        rng.shuffle(group)
        a += group[: len(group) // 2]
        b += group[len(group) // 2 :]
    rng.shuffle(a)
    return a, b


def datasets(data: Path, dev: int, n: int):
    rng = random.Random(0)
    train = [(r["text"], r["label"]) for r in rows(data / "banking77/train.jsonl")]
    test = [(r["text"], r["label"]) for r in rows(data / "banking77/dev.jsonl")]
    rng.shuffle(test)
    yield "banking77", stratified(train, 10, rng), test[:dev]
    mails = [
        (f"Subject: {r['subject']}\n\n{r['body'][:600]}", r["label"])
        for r in rows(data / "spamassassin/dev.jsonl")
    ]
    pool, test = halves(mails, random.Random(0))
    random.Random(1).shuffle(test)
    yield "spamassassin", pool, test[:n]
    de = [(r["text"], r["intent"]) for r in rows(data / "xsid/de.dev.jsonl")]
    pool, test = halves(de, random.Random(0))
    random.Random(1).shuffle(test)
    yield "xsid-de", pool, test[:n]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets"
    )
    p.add_argument("--dev", type=int, default=200, help="banking77 test rows")
    p.add_argument("--n", type=int, default=100, help="test rows of the other datasets")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--only", default=None, help="one dataset: banking77, spamassassin, xsid-de")
    p.add_argument("--no-model", action="store_true", help="corrections alone (fast)")
    p.add_argument(
        "--points", default=",".join(map(str, POINTS)), help="correction counts to measure"
    )
    args = p.parse_args()
    if not (args.data / "banking77").is_dir():
        sys.exit(f"no datasets at {args.data}; pass --data")
    os.environ["EDGEWISE_HOME"] = tempfile.mkdtemp(prefix="edgewise-bench-")
    import edgewise
    from edgewise.personal.learn import PersonalClassifier
    from edgewise.personal.profile import Profile
    from edgewise.tasks.classify import Classifier

    engine = (
        None
        if args.no_model
        else edgewise.load(threads=args.threads)
        if args.threads
        else edgewise.load()
    )
    for name, pool, test in datasets(args.data, args.dev, args.n):
        if args.only and name != args.only:
            continue
        labels = sorted({lab for _, lab in pool + test})
        texts, gold = [t for t, _ in test], [lab for _, lab in test]
        print(
            f"\n{name}: {len(labels)} labels, {len(pool)} corrections available, {len(test)} test rows"
        )
        print(
            f"{'corrections':>11} {'model only':>11} {'corr. only':>11} {'edgewise':>9} {'model runs':>10} "
            f"{'s/text':>7} {'weight':>6} {'LOO':>6} {'examples':>8}"
        )
        profile = Profile.create(name)
        zero = None
        points = sorted(int(x) for x in args.points.split(","))
        if engine is not None and 0 in points:
            t0 = time.perf_counter()
            res = Classifier(engine, labels).classify_many(texts)
            zero = sum(r.label == g for r, g in zip(res, gold)) / len(gold)
            print(
                f"{0:>11} {zero:>11.1%} {'-':>11} {zero:>9.1%} {len(texts):>10} {(time.perf_counter() - t0) / len(texts):>7.2f}"
            )
        done = 0
        for n in [x for x in points if x > 0]:
            n = min(n, len(pool))
            if n <= done:
                continue
            profile.correct_many(pool[done:n])
            done = n
            alone = PersonalClassifier(
                engine or edgewise.FakeEngine(), labels, profile, use_model=False
            )
            acc_alone = sum(r.label == g for r, g in zip(alone.classify_many(texts), gold)) / len(
                gold
            )
            if engine is None:
                print(f"{n:>11} {'-':>11} {acc_alone:>11.1%}")
                continue
            clf = PersonalClassifier(engine, labels, profile)
            t0 = time.perf_counter()
            res = clf.classify_many(texts)
            secs = (time.perf_counter() - t0) / len(texts)
            runs = sum(r.input_tokens > 0 for r in res)
            acc = sum(r.label == g for r, g in zip(res, gold)) / len(gold)
            flag = "" if zero is None or acc >= zero else "  BELOW zero-correction"
            zero_text = f"{zero:>11.1%}" if zero is not None else f"{'-':>11}"
            w = clf._weight if clf._weight is not None else float("nan")
            trust = "yes" if clf._loo is not None and clf.trusted() else "no"
            print(
                f"{n:>11} {zero_text} {acc_alone:>11.1%} {acc:>9.1%} {runs:>10} {secs:>7.2f} "
                f"{w:>6.2f} {clf.self_accuracy():>6.1%} {trust:>8}{flag}"
            )
        profile.close()


if __name__ == "__main__":
    main()
