"""Does compose(profile=...) write more like the user? Stylometric distance, with vs without.

    python benchmarks/personal_style.py [--data ../shared/datasets] [--threads 2]

Users: the people (not feeds) with at least 6 ham emails in spamassassin/dev.jsonl. For each,
the first 4 emails (by id) become the profile's writing samples; for every other email the
model is asked to "write a short email to the mailing list about: <its subject>" once without
and once with the profile. ``style_distance`` (Burrows'-Delta-like: mean absolute z-score
difference over word/sentence length, punctuation, function words, greeting, sign-off, emoji
and line-break features) measures the outputs against that user's held-out emails; lower is
closer. Also printed: how often the output opens and closes the way the user does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets"
    )
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--min-emails", type=int, default=6)
    args = p.parse_args()
    path = args.data / "spamassassin/dev.jsonl"
    if not path.is_file():
        sys.exit(f"no {path}; pass --data")
    os.environ["EDGEWISE_HOME"] = tempfile.mkdtemp(prefix="edgewise-bench-")
    import edgewise
    from edgewise.personal.profile import Profile
    from edgewise.personal.style import (
        clean_email,
        compose,
        greeting_of,
        signoff_of,
        style_distance,
    )

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["label"] == "ham" and "rssfeeds" not in r["from"]:
            by[r["from"]].append(r)
    users = {
        k: sorted(v, key=lambda r: r["id"]) for k, v in by.items() if len(v) >= args.min_emails
    }
    engine = edgewise.load(threads=args.threads) if args.threads else edgewise.load()
    totals = {"without": [], "with": []}
    print(
        f"{'user':40} {'held out':>8} {'without':>8} {'with':>8}  opens/closes like the user (without -> with)"
    )
    for n, (sender, mails) in enumerate(sorted(users.items())):
        own = [clean_email(m["body"]) for m in mails]
        train, held = own[:4], mails[4:]
        refs = [clean_email(m["body"]) for m in held]
        with Profile.create(f"user{n}") as prof:
            prof.add_writing(train)
            outs: dict[str, list[str]] = {"without": [], "with": []}
            for m in held:
                task = f"Write a short email to the mailing list about: {m['subject']}"
                outs["without"].append(compose(task, engine=engine).text)
                outs["with"].append(compose(task, engine=engine, profile=prof).text)
        pool = outs["without"] + outs["with"] + refs
        d = {k: style_distance(v, refs, pool) for k, v in outs.items()}
        for k in d:
            totals[k].append(d[k])

        def habits(texts: list[str], refs: list[str] = refs) -> str:
            g = sum(bool(greeting_of(t)) == bool(greeting_of(r)) for t, r in zip(texts, refs))
            s = sum(bool(signoff_of(t)) == bool(signoff_of(r)) for t, r in zip(texts, refs))
            return f"{g}/{len(refs)} {s}/{len(refs)}"

        print(
            f"{sender[:40]:40} {len(held):>8} {d['without']:8.3f} {d['with']:8.3f}  "
            f"{habits(outs['without'])} -> {habits(outs['with'])}"
        )
        print(f"    with profile, first output: {outs['with'][0][:160]!r}")
    mw, mp = (sum(v) / len(v) for v in (totals["without"], totals["with"]))
    print(
        f"\nmean stylometric distance to the user's held-out emails: without profile {mw:.3f}, "
        f"with profile {mp:.3f} ({mp / mw:.2f}x; lower is closer)"
    )


if __name__ == "__main__":
    main()
