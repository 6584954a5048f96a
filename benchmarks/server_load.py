"""Load on `edgewise serve` vs llama-cpp-python's own server, same model, same threads.

N concurrent clients each send R requests, a mix of classify and short chat, to 127.0.0.1:
- edgewise: POST /v1/classify (label scoring) and POST /v1/chat/completions;
- peer (`python -m llama_cpp.server`): the same chat requests, and for classify the same
  labels asked for as a generated answer ("Answer with the label only"), parsed afterwards.
The two servers run one after the other, never at the same time. Prints failed requests,
p50/p95 latency and throughput per side and workload, and the ratios.

    python benchmarks/server_load.py                         # 16 clients x 200 requests
    python benchmarks/server_load.py --clients 4 --requests 10  # a quick run
    python benchmarks/server_load.py --skip-peer

Needs the bench extra (llama_cpp.server's dependencies): pip install 'edgewise[bench]'.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from edgewise.config import physical_cores
from edgewise.resolver import resolve

LABELS = ["urgent", "task", "notification", "needs_human"]
TEXTS = [
    "The production database is down and customers cannot pay. Fix it now!",
    "Could you send me the slides for Monday's meeting by Friday?",
    "Your order #4411 has shipped and will arrive on Thursday.",
    "I need to talk to you about something personal, can we meet?",
    "Reminder: your subscription renews next week.",
    "Please review the attached contract and sign it before the 30th.",
    "ALERT: disk usage on web-01 is at 98%, the site will stop soon.",
    "Weekly newsletter: ten tips for a tidier inbox.",
]
CHAT = "Reply in one short sentence to this message: {text}"
GENERATE_LABEL = (
    "Classify the message into exactly one of these labels: {labels}.\n"
    "Answer with the label only.\n\nMessage: {text}"
)

PEER = """
import sys
import llama_cpp.llama_cpp as capi
from edgewise.engines.llamacpp import extra_buffers_safe

# the same weight-buffer setting edgewise uses on this CPU (AMX may be advertised but unusable)
extra = extra_buffers_safe()
default = capi.llama_model_default_params


def params():
    p = default()
    p.use_extra_bufts = extra
    return p


capi.llama_model_default_params = params
from llama_cpp.server.__main__ import main

sys.argv = ["llama_cpp.server"] + sys.argv[1:]
main()
"""


@dataclass
class Result:
    kind: str
    ms: float
    ok: bool
    valid: bool = True  # peer classify: the generated text named one of the labels


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], path: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see its log")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not become ready")


def start_edgewise(args: argparse.Namespace, log: Any) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [
        sys.executable, "-c", "from edgewise.cli.main import main; main()",
        "serve", "--port", str(port),
        "--model", args.model, "--threads", str(args.threads),
        "--max-queue", str(args.clients * 2), "--timeout", "900",
        "--n-ctx", str(args.n_ctx),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, "/health")
    return url, proc


def start_peer(
    args: argparse.Namespace, path: Path, log: Any
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [
        sys.executable, "-c", PEER, "--model", str(path), "--port", str(port),
        "--host", "127.0.0.1", "--n_threads", str(args.threads),
        "--n_threads_batch", str(args.threads), "--n_ctx", str(args.n_ctx),
        "--n_batch", "512",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, "/v1/models")
    return url, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_request(client: httpx.Client, side: str, kind: str, text: str, tokens: int) -> Result:
    t0 = time.perf_counter()
    valid = True
    try:
        if kind == "classify" and side == "edgewise":
            r = client.post("/v1/classify", json={"text": text, "labels": LABELS})
            ok = r.status_code == 200 and r.json()["results"][0]["label"] in LABELS
        elif kind == "classify":
            prompt = GENERATE_LABEL.format(labels=", ".join(LABELS), text=text)
            r = client.post(
                "/v1/chat/completions",
                json={
                    "model": "m",
                    "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": 6,
                    "temperature": 0,
                },
            )
            ok = r.status_code == 200
            if ok:
                answer = r.json()["choices"][0]["message"]["content"].lower()
                valid = any(label in answer.replace(" ", "_") for label in LABELS)
        else:
            r = client.post(
                "/v1/chat/completions",
                json={
                    "model": "smollm2-135m" if side == "edgewise" else "m",
                    "messages": [{"role": "user", "content": CHAT.format(text=text)}],
                    "max_tokens": tokens,
                    "temperature": 0,
                },
            )
            ok = r.status_code == 200 and bool(r.json()["choices"][0]["message"]["content"])
    except httpx.HTTPError:
        ok = False
    return Result(kind, (time.perf_counter() - t0) * 1000, ok, valid)


def run_load(url: str, side: str, args: argparse.Namespace) -> tuple[list[Result], float]:
    results: list[Result] = []
    lock = threading.Lock()
    # one warm-up request of each kind (loads the model, computes the classifier's prior)
    with httpx.Client(base_url=url, timeout=900) as c:
        for kind in ("classify", "chat"):
            one_request(c, side, kind, TEXTS[0], args.chat_tokens)

    def client(n: int) -> None:
        mine: list[Result] = []
        with httpx.Client(base_url=url, timeout=900) as c:
            for i in range(args.requests):
                kind = "classify" if (n + i) % 2 == 0 else "chat"
                text = TEXTS[(n * 7 + i) % len(TEXTS)]
                mine.append(one_request(c, side, kind, text, args.chat_tokens))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summary(results: list[Result], wall: float, kind: str | None) -> dict[str, float]:
    rs = [r for r in results if kind is None or r.kind == kind]
    good = [r.ms for r in rs if r.ok]
    return {
        "n": len(rs),
        "failed": sum(1 for r in rs if not r.ok),
        "invalid": sum(1 for r in rs if r.ok and not r.valid),
        "p50": pct(good, 0.5),
        "p95": pct(good, 0.95),
        "mean": statistics.fmean(good) if good else float("nan"),
        "rps": len(good) / wall if wall > 0 else 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--threads", type=int, default=physical_cores())
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=200, help="requests per client")
    p.add_argument("--chat-tokens", type=int, default=16, help="max_tokens of a chat request")
    p.add_argument("--n-ctx", type=int, default=4096)
    p.add_argument("--skip-peer", action="store_true")
    args = p.parse_args()
    path = resolve(args.model).path
    print(
        f"model {args.model} ({path.name}), {args.threads} threads, {args.clients} clients x "
        f"{args.requests} requests (classify and chat alternating), chat max_tokens "
        f"{args.chat_tokens}",
        flush=True,
    )
    logdir = Path(tempfile.mkdtemp(prefix="edgewise-server-load-"))
    sides: dict[str, tuple[list[Result], float]] = {}
    with open(logdir / "edgewise.log", "wb") as log:
        url, proc = start_edgewise(args, log)
        try:
            sides["edgewise"] = run_load(url, "edgewise", args)
        finally:
            stop(proc)
    if not args.skip_peer:
        with open(logdir / "peer.log", "wb") as log:
            url, proc = start_peer(args, path, log)
            try:
                sides["llama_cpp.server"] = run_load(url, "peer", args)
            finally:
                stop(proc)
    print(f"(server logs in {logdir})\n")
    header = f"{'server':18} {'workload':9} {'n':>6} {'failed':>6} {'p50 ms':>9} {'p95 ms':>9} {'req/s':>8}"
    print(header)
    print("-" * len(header))
    table: dict[tuple[str, str], dict[str, float]] = {}
    for side, (results, wall) in sides.items():
        for kind in ("classify", "chat", None):
            s = summary(results, wall, kind)
            table[(side, kind or "all")] = s
            extra = f"  ({int(s['invalid'])} answers named no label)" if s["invalid"] else ""
            print(
                f"{side:18} {kind or 'all':9} {int(s['n']):>6} {int(s['failed']):>6} "
                f"{s['p50']:>9.1f} {s['p95']:>9.1f} {s['rps']:>8.2f}{extra}"
            )
    if "llama_cpp.server" in sides:
        print("\nratios (llama_cpp.server / edgewise: >1 means edgewise is faster)")
        for kind in ("classify", "chat", "all"):
            e, q = table[("edgewise", kind)], table[("llama_cpp.server", kind)]
            print(
                f"  {kind:9} p50 {q['p50'] / e['p50']:.2f}x   p95 {q['p95'] / e['p95']:.2f}x   "
                f"throughput {e['rps'] / q['rps'] if q['rps'] else float('nan'):.2f}x"
            )
        print(
            "  (classify: edgewise scores the labels; the peer generates the label as text, "
            "which also may name no label)"
        )


if __name__ == "__main__":
    main()
