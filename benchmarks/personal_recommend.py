"""recommend(profile=...): hit@k on held-out likes, against random order and pure relevance.

    python benchmarks/personal_recommend.py [--data ../shared/datasets] [--users 40]

Simulated users on real text (banking77 train, 77 intents as topics; no dataset with real
per-user likes is available offline): each user likes 3 topics (5 liked items each) and dislikes
1 (3 items). Candidates: 2 held-out items from every liked topic (6 held-out likes), 4 from the
disliked topic and 90 from other topics (100 in all). hit@10 = share of the held-out likes in
the top 10; also how many of the top 10 come from the disliked topic and how many distinct
topics the top 10 covers (diversity). Rows: random order; relevance only (MMR off); edgewise
(MMR, diversity 0.3).
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets"
    )
    p.add_argument("--users", type=int, default=40)
    p.add_argument("--k", type=int, default=10)
    args = p.parse_args()
    path = args.data / "banking77/train.jsonl"
    if not path.is_file():
        sys.exit(f"no {path}; pass --data")
    os.environ["EDGEWISE_HOME"] = tempfile.mkdtemp(prefix="edgewise-bench-")
    from edgewise.personal.profile import Profile
    from edgewise.personal.recommend import recommend

    by: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text().splitlines():
        r = json.loads(line)
        by[r["label"]].append(r["text"])
    topics = sorted(by)
    rng = random.Random(0)
    stats: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    ms: list[float] = []
    for u in range(args.users):
        chosen = rng.sample(topics, 4)
        likes, dislike = chosen[:3], chosen[3]
        topic_of: dict[str, str] = {}
        history, candidates, held = [], [], set()
        for t in likes:
            texts = rng.sample(by[t], 7)
            history += [(f"{t}-{i}", x, 1) for i, x in enumerate(texts[:5])]
            for i, x in enumerate(texts[5:]):
                cid = f"c-{t}-{i}"
                candidates.append({"id": cid, "text": x})
                held.add(cid)
                topic_of[cid] = t
        texts = rng.sample(by[dislike], 7)
        history += [(f"{dislike}-{i}", x, -1) for i, x in enumerate(texts[:3])]
        for i, x in enumerate(texts[3:]):
            candidates.append({"id": f"c-{dislike}-{i}", "text": x})
            topic_of[f"c-{dislike}-{i}"] = dislike
        others = [t for t in topics if t not in chosen]
        for i in range(90):
            t = rng.choice(others)
            candidates.append({"id": f"o-{i}", "text": rng.choice(by[t])})
            topic_of[f"o-{i}"] = t
        with Profile.create(f"user{u}") as prof:
            prof.add_items([{"id": i, "text": x} for i, x, _ in history])
            for i, _, r in history:
                (prof.like if r > 0 else prof.dislike)(i)

            def measure(
                ids: list[str], held=held, topic_of=topic_of, dislike=dislike
            ) -> tuple[float, int, int]:
                top = ids[: args.k]
                return (
                    sum(i in held for i in top) / len(held),
                    sum(topic_of[i] == dislike for i in top),
                    len({topic_of[i] for i in top}),
                )

            shuffled = [c["id"] for c in candidates]
            rng.shuffle(shuffled)
            stats["random order"].append(measure(shuffled))
            rel = recommend(candidates, args.k, profile=prof, diversity=0.0)
            stats["relevance only"].append(measure([r.id for r in rel]))
            t0 = time.perf_counter()
            recs = recommend(candidates, args.k, profile=prof)
            ms.append((time.perf_counter() - t0) * 1000)
            stats["edgewise (MMR 0.3)"].append(measure([r.id for r in recs]))
    print(f"{args.users} simulated users, 100 candidates each, 6 held-out likes; top {args.k}")
    print(f"{'ranking':20} {'hit@' + str(args.k):>8} {'disliked in top':>16} {'topics in top':>14}")
    base = None
    for name, rows in stats.items():
        hit = sum(r[0] for r in rows) / len(rows)
        bad = sum(r[1] for r in rows) / len(rows)
        div = sum(r[2] for r in rows) / len(rows)
        base = base or hit
        print(f"{name:20} {hit:8.1%} {bad:16.2f} {div:14.1f}   ({hit / base:.1f}x random)")
    ms.sort()
    print(
        f"recommend() with cached vectors: median {ms[len(ms) // 2]:.1f} ms per call (template reasons)"
    )


if __name__ == "__main__":
    main()
