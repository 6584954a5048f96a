"""Peak RSS of `edgewise triage` on a small and a large inbox (default 100 vs 2,000 emails).

Targets: no growth of the peak with inbox size beyond the output (the results are streamed to
the --jsonl file, so the allowance is a fixed tolerance for allocator noise, --tolerance-mb),
and a peak <= the model file size + 300 MB.

The inboxes are mbox files built in a temporary directory from the SpamAssassin records in
../shared/datasets/spamassassin/dev.jsonl (subject, from, body), repeated with new Message-IDs
to reach each size. Each size runs `<venv>/bin/edgewise triage INBOX --jsonl OUT` as a fresh
subprocess; its peak RSS is the ``ru_maxrss`` that ``os.wait4`` reports for it (the largest
peak in its process tree: triage itself and the short probe subprocess it may start). The peak
of the triage process alone (VmHWM, polled from /proc) is shown beside it. Exit status 3 (some
records skipped) counts as success.

2,000 emails take a while (about 1-4 emails/s on two busy cores):

    python benchmarks/memory.py [--sizes 100,2000] [--max-input-tokens 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from edgewise.resolver import resolve

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
MB = 1024 * 1024
HEADROOM_MB = 300


def one_line(value: Any, limit: int = 200) -> str:
    return " ".join(str(value or "").split())[:limit]


def build_mbox(records: list[dict[str, Any]], n: int, path: Path) -> None:
    """An mbox of ``n`` messages: the records in order, repeated with new Message-IDs."""
    box = mailbox.mbox(str(path), create=True)
    box.lock()
    try:
        for i in range(n):
            rec = records[i % len(records)]
            msg = EmailMessage()
            msg["Subject"] = one_line(rec.get("subject")) or "(no subject)"
            try:
                msg["From"] = one_line(rec.get("from")) or "unknown@example.com"
            except (ValueError, TypeError):  # a malformed address header in the corpus
                msg["From"] = "unknown@example.com"
            msg["To"] = "inbox@bench.example"
            msg["Date"] = formatdate(1_700_000_000 + 60 * i, usegmt=True)
            msg["Message-ID"] = make_msgid(idstring=f"{i}", domain="bench.example")
            msg.set_content(rec.get("body") or "")
            box.add(msg)
        box.flush()
    finally:
        box.unlock()
        box.close()


def vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_triage(exe: Path, inbox: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [str(exe), "triage", str(inbox), "--jsonl", str(out)]
    cmd += ["--max-input-tokens", str(args.max_input_tokens)]
    if args.model:
        cmd += ["--model", args.model]
    env = dict(os.environ)
    if args.threads:
        env["EDGEWISE_THREADS"] = str(args.threads)
    err_path = out.with_suffix(".stderr")
    t0 = time.perf_counter()
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    hwm = [0]
    done = threading.Event()

    def poll() -> None:  # VmHWM only grows; the last reading before exit is the peak
        while not done.wait(0.25):
            kb = vm_hwm_kb(proc.pid)
            if kb:
                hwm[0] = max(hwm[0], kb)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    done.set()
    poller.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode not in (0, 3):
        tail = err_path.read_text(errors="replace")[-2000:]
        sys.exit(f"edgewise triage exited with {proc.returncode}:\n{tail}")
    with out.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {
        "peak": usage.ru_maxrss * 1024,  # Linux reports KiB
        "hwm": hwm[0] * 1024,
        "elapsed": elapsed,
        "rows": len(rows),
        "errors": sum(1 for r in rows if r.get("error")),
        "out_bytes": out.stat().st_size,
        "exit": proc.returncode,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the datasets folder")
    p.add_argument("--sizes", default="100,2000", help="comma-separated inbox sizes")
    p.add_argument(
        "--max-input-tokens", type=int, default=256, help="passed to triage (default 256)"
    )
    p.add_argument(
        "--model",
        default=None,
        help="passed to triage (default: the default model, see `edgewise models`)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="EDGEWISE_THREADS for triage (default 1: robust on a busy machine; 0 = unset)",
    )
    p.add_argument(
        "--tolerance-mb",
        type=float,
        default=16.0,
        help="peak growth from the smallest to the largest inbox still counted as none",
    )
    args = p.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if len(sizes) < 2 or sizes[0] < 1:
        sys.exit("--sizes needs at least two different positive sizes, e.g. 100,2000")
    source = args.data / "spamassassin" / "dev.jsonl"
    if not source.is_file():
        sys.exit(f"{source} not found (pass --data DIR pointing at the shared datasets)")
    exe = Path(sys.executable).parent / "edgewise"
    if not exe.is_file():
        sys.exit(f"{exe} not found: run this with the project's venv python")
    with source.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    model_path = resolve(args.model).path
    model_bytes = model_path.stat().st_size

    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="edgewise-memory-") as tmp:
        for n in sizes:
            inbox = Path(tmp) / f"inbox-{n}.mbox"
            build_mbox(records, n, inbox)
            print(f"running triage on {n} emails ...", file=sys.stderr, flush=True)
            res = run_triage(exe, inbox, Path(tmp) / f"out-{n}.jsonl", args)
            res["inbox_bytes"] = inbox.stat().st_size
            results[n] = res

    print(
        f"edgewise triage, model {model_path.name} ({model_bytes / MB:.1f} MB), "
        f"--max-input-tokens {args.max_input_tokens}, threads {args.threads or 'default'}"
    )
    header = (
        f"{'emails':>7} {'mbox MB':>8} {'peak RSS MB':>12} {'triage VmHWM MB':>16} "
        f"{'output MB':>10} {'errors':>7} {'exit':>5} {'seconds':>8} {'emails/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for n, r in results.items():
        print(
            f"{n:>7} {r['inbox_bytes'] / MB:>8.2f} {r['peak'] / MB:>12.1f} "
            f"{r['hwm'] / MB:>16.1f} {r['out_bytes'] / MB:>10.2f} {r['errors']:>7} "
            f"{r['exit']:>5} {r['elapsed']:>8.1f} {r['rows'] / r['elapsed']:>9.2f}"
        )
    print("(seconds and emails/s include start-up and loading the model)")
    small, large = results[sizes[0]], results[sizes[-1]]
    growth = large["peak"] - small["peak"]
    limit = model_bytes + HEADROOM_MB * MB
    highest = max(r["peak"] for r in results.values())
    print(
        f"\npeak growth {sizes[0]} -> {sizes[-1]} emails: {growth / MB:+.1f} MB "
        f"({growth / 1024 / (sizes[-1] - sizes[0]):+.2f} KiB per extra email); "
        f"ratio {large['peak'] / small['peak']:.3f}"
    )
    print(
        f"target no growth (<= {args.tolerance_mb:.0f} MB tolerance): "
        f"{'holds' if growth <= args.tolerance_mb * MB else 'FAILS'}"
    )
    print(
        f"target peak <= model file + {HEADROOM_MB} MB = {limit / MB:.1f} MB: "
        f"{'holds' if highest <= limit else 'FAILS'} (highest peak {highest / MB:.1f} MB)"
    )


if __name__ == "__main__":
    main()
