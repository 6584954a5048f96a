"""Batch throughput: ``edgewise batch`` with 1 and 2 local workers and on local Ray with 2
actors, against one process calling ``classify_many``; and the cost of the crash-safe output.

All sides classify the same SpamAssassin emails (spam/ham with label descriptions, body cut
to --max-input-tokens) on the same model, in the same chunks, end to end from the JSONL file
to a JSONL file of results, model loading included (the batch runs load one model per
worker, which is part of their price). Throughput is items per second; the ratio is against
the single process.

The crash-safe output (append + flush per chunk, checkpoint, fsync every 5 s or every chunk)
is measured twice: end to end, as ``run_batch`` with one worker against the single process
writing its results once at the end; and in isolation, writing the real result rows through
the output log against one plain write, as a share of the model time per item.

    .venv/bin/python benchmarks/batch.py [--n 2000] [--datasets ../shared/datasets]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import parser

from edgewise.batch import JobSpec, run_batch
from edgewise.batch.checkpoint import Checkpoint, OutputLog
from edgewise.config import physical_cores
from edgewise.resolver import load
from edgewise.tasks.classify import Classifier

DESCRIPTIONS = {
    "ham": "a normal personal, work or mailing-list email",
    "spam": "unsolicited bulk advertising, scam or phishing",
}


def make_input(datasets: Path, n: int, path: Path) -> list[str]:
    src = datasets / "spamassassin" / "dev.jsonl"
    if not src.is_file():
        sys.exit(f"{src} not found: pass --datasets DIR (the shared datasets folder)")
    rows = [json.loads(line) for line in src.open()]
    texts = []
    with path.open("w") as fh:
        for i in range(n):  # the 500 emails, repeated to n with new ids
            r = rows[i % len(rows)]
            text = f"Subject: {r['subject']}\nFrom: {r['from']}\n\n{r['body']}"
            texts.append(text)
            fh.write(json.dumps({"id": f"e{i}", "text": text}) + "\n")
    return texts


def single_process(
    spec: JobSpec, texts: list[str], out: Path, threads: int, chunk: int
) -> tuple[float, list[dict[str, Any]]]:
    """One process, one engine, classify_many over the same chunks, results written once."""
    t0 = time.perf_counter()
    engine = load(spec.model, threads=threads)
    opts = dict(spec.options)
    clf = Classifier(engine, opts.pop("labels"), **opts)
    clf.prepare(texts[:200])
    rows = []
    for i in range(0, len(texts), chunk):
        for j, r in enumerate(clf.classify_many(texts[i : i + chunk])):
            rows.append({"id": f"e{i + j}", **r.model_dump()})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    seconds = time.perf_counter() - t0
    engine.close()
    return seconds, rows


def output_cost(rows: list[dict[str, Any]], folder: Path, chunk: int) -> dict[str, float]:
    """Seconds to write the rows: once at the end, vs through the crash-safe output log."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    (folder / "plain.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out["plain write once"] = time.perf_counter() - t0
    for name, interval in (("append+flush/chunk, fsync 5 s", 5.0), ("fsync every chunk", 0.0)):
        target = folder / f"log-{interval}.jsonl"
        ck = Checkpoint(folder / f"log-{interval}.ck.json")
        t0 = time.perf_counter()
        log = OutputLog(target, folder / f"log-{interval}.err.jsonl", interval)
        log.open(resume=False)
        for i in range(0, len(rows), chunk):
            log.append(rows[i : i + chunk])
            if log.due():
                ck.save(output_bytes=log.sync(), done=len(log.done_ids))
        ck.save(output_bytes=log.sync(), done=len(log.done_ids))
        log.close()
        out[name] = time.perf_counter() - t0
    return out


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--n", type=int, default=2000, help="emails (the 500 repeated)")
    p.add_argument("--datasets", type=Path, default=Path(__file__).parents[2] / "shared/datasets")
    p.add_argument("--max-input-tokens", type=int, default=256)
    p.add_argument("--chunk", type=int, default=32)
    p.add_argument("--no-ray", action="store_true")
    args = p.parse_args()
    cores = args.threads or physical_cores()
    os.environ.pop("EDGEWISE_THREADS", None)  # each side sets its threads explicitly
    spec = JobSpec(
        task="classify",
        model=args.model,
        options={
            "labels": ["ham", "spam"],
            "descriptions": DESCRIPTIONS,
            "max_input_tokens": args.max_input_tokens,
        },
    )
    tmp = Path(tempfile.mkdtemp(prefix="edgewise-batch-bench-"))
    src = tmp / "in.jsonl"
    texts = make_input(args.datasets, args.n, src)
    load1 = os.getloadavg()[0]
    print(
        f"{args.n} emails, model {args.model}, {cores} cores, chunk {args.chunk}; "
        f"load average {load1:.1f} at start"
        + (" (CONTENDED: figures are not clean)" if load1 > 0.5 else ""),
        flush=True,
    )

    results: list[tuple[str, float]] = []
    base, rows = single_process(spec, texts, tmp / "single.jsonl", cores, args.chunk)
    results.append((f"classify_many, 1 process x {cores} threads", base))
    print(f"  {results[-1][0]}: {base:.1f}s", flush=True)
    labels = {r["id"]: r["label"] for r in rows}

    def check(path: Path) -> str:
        got = {}
        for p in [path] if path.is_file() else sorted(path.glob("*.jsonl")):
            for line in p.read_text().splitlines():
                r = json.loads(line)
                got[r["id"]] = r["label"]
        same = sum(got.get(k) == v for k, v in labels.items())
        return f"{same}/{len(labels)} labels as the single process"

    for workers, threads in ((1, cores), (cores, max(1, cores // cores))):
        out = tmp / f"batch-{workers}.jsonl"
        t0 = time.perf_counter()
        run_batch(spec, src, out, workers=workers, threads=threads, chunk_size=args.chunk)
        secs = time.perf_counter() - t0
        results.append((f"edgewise batch, {workers} worker(s) x {threads} thread(s)", secs))
        print(f"  {results[-1][0]}: {secs:.1f}s ({check(out)})", flush=True)

    if not args.no_ray:
        import ray

        from edgewise.batch.ray_runner import run_ray

        t0 = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        init = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_ray(spec, src, str(tmp / "ray"), actors=cores, threads=1, chunk_size=args.chunk)
        secs = time.perf_counter() - t0
        ray.shutdown()
        results.append((f"edgewise batch --ray, {cores} actors x 1 thread", secs))
        print(f"  {results[-1][0]}: {secs:.1f}s + {init:.1f}s ray.init ({check(tmp / 'ray')})")

    print(f"\nthroughput ({args.n} items, end to end incl. model loads):")
    for name, secs in results:
        print(f"  {name:<48} {args.n / secs:7.2f} items/s  x{base / secs:.2f}")

    print("\ncrash-safe output, the rows above written in chunks of", args.chunk)
    costs = output_cost(rows, tmp, args.chunk)
    per_item = base / args.n
    plain = costs["plain write once"]
    for name, secs in costs.items():
        print(
            f"  {name:<34} {secs * 1000:8.1f} ms  ({secs / args.n * 1e6:6.1f} us/item, "
            f"{secs / args.n / per_item * 100:.3f}% of model time per item; "
            f"x{secs / plain:.1f} the plain write)"
        )
    one = dict(results)[f"edgewise batch, 1 worker(s) x {cores} thread(s)"]
    print(
        f"  end to end: edgewise batch 1 worker vs single process: x{base / one:.2f} throughput"
        " (worker start, pre-pass, IPC and the crash-safe output together)"
    )
    print(f"\nfiles in {tmp}")


if __name__ == "__main__":
    main()
