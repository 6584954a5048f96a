"""Weight formats side by side: prompt speed through edgewise and fidelity to the shipped file.

The bundled SmolLM2-135M ships as Q4_1, whose matrices llama.cpp cannot repack on x86. The
formats made from it (``smollm2-135m:Q4_0`` and the rest) run faster, but each is a second
quantization of already-quantized weights, except F32, the exact expansion (it moves only
because the shipped file's kernels round activations to 8 bits). This prints, per format, the
512-token prompt rate through edgewise's engine (the same buffers as classification, repacked
layouts included) and how far its next-token distributions move from the shipped file's on
real text: mean KL divergence (nats per token) and top-1 agreement over ``--tokens`` tokens of
SpamAssassin emails, teacher-forced. Task accuracy is ``triage.py``'s job; this says where to look.

    .venv/bin/python benchmarks/formats.py [--formats F32,Q8_0,IQ4_NL,Q4_0] [--tokens 1024]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from _common import parser, plain_llama
from triage import prompt_rate

import edgewise
from edgewise.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def all_logits(path: str, tokens: list[int], threads: int) -> np.ndarray:
    """Log-softmax rows for every position of ``tokens`` (plain llama-cpp-python, logits_all)."""
    llm = plain_llama(path, threads, n_ctx=max(512, len(tokens) + 8), logits_all=True)
    llm.eval(tokens)
    rows = np.array(llm.scores[: len(tokens)], dtype=np.float64)
    llm.close()
    rows -= rows.max(axis=1, keepdims=True)
    return rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))


def nll(logprobs: np.ndarray, tokens: list[int]) -> float:
    """Mean negative log-likelihood of each next token of ``tokens``."""
    return float(-logprobs[np.arange(len(tokens) - 1), tokens[1:]].mean())


def row(name: str, size_mb: float, rate: float, kl: float, agree: float, loss: float) -> str:
    return f"{name:<10} {size_mb:>8.1f} {rate:>12.0f} {kl:>8.4f} {agree:>12.3f} {loss:>7.3f}"


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--formats", default="F32,Q8_0,IQ4_NL,Q4_0", help="quantizations to compare")
    p.add_argument("--tokens", type=int, default=1024, help="tokens of text to compare on")
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = p.parse_args()
    threads = args.threads or Settings.from_env().threads
    path = args.datasets / "spamassassin" / "dev.jsonl"
    if not path.is_file():
        sys.exit(f"{path} not found: pass --datasets DIR (the shared datasets folder)")
    emails = [json.loads(line) for line in path.open()][-12:]
    text = "\n\n".join(f"Subject: {r['subject']}\n{r['body'][:1500]}" for r in emails)

    shipped = edgewise.load(args.model, threads=threads)
    tokens = shipped.tokenize(text)[: args.tokens]
    ref = all_logits(str(shipped.path), tokens, threads)
    ref_p = np.exp(ref)
    print(
        f"model {shipped.name} ({shipped.info.file_type}), {threads} threads, {len(tokens)} tokens"
    )
    header = f"{'format':<10} {'size MB':>8} {'512-tok t/s':>12} {'KL':>8} {'top-1 agree':>12} {'NLL':>7}"
    print(header)
    print("-" * len(header))
    size = shipped.path.stat().st_size / 1e6
    print(row(f"{shipped.info.file_type}*", size, prompt_rate(shipped), 0.0, 1.0, nll(ref, tokens)))
    shipped.close()
    for quant in [q.strip() for q in args.formats.split(",") if q.strip()]:
        eng = edgewise.load(f"{args.model}:{quant}", threads=threads)
        rate = max(prompt_rate(eng) for _ in range(2))
        size = eng.path.stat().st_size / 1e6
        got = all_logits(str(eng.path), tokens, threads)
        eng.close()
        kl = float((ref_p * (ref - got)).sum(axis=1).mean())
        agree = float((ref.argmax(axis=1) == got.argmax(axis=1)).mean())
        print(row(quant, size, rate, kl, agree, nll(got, tokens)))
    print("\n* the shipped file, the reference; KL is KL(shipped || format) per token")


if __name__ == "__main__":
    main()
