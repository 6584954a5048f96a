"""Decode and prefill tokens/s through edgewise vs a plain llama-cpp-python loop.

Same GGUF, same threads, same context size; repeats interleaved; prints medians and the
edgewise / plain ratio (target >= 0.97).

    python benchmarks/engine_overhead.py [--model smollm2-135m] [--repeats 5]
"""

from __future__ import annotations

import sys

from _common import median, parser, plain_llama, timed

import edgewise
from edgewise.config import physical_cores
from edgewise.resolver import resolve

TEXT = (
    "The committee met on Tuesday to review the quarterly budget, the hiring plan and the "
    "schedule for the new office. "
) * 40


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    threads = args.threads or physical_cores()
    path = str(resolve(args.model).path)
    engine = edgewise.load(args.model, threads=threads)
    plain = plain_llama(path, threads)
    prompt_tokens = plain.tokenize(TEXT.encode(), add_bos=False)[:500]
    text = plain.detokenize(prompt_tokens).decode()
    decode_n = 128
    rates: dict[str, list[float]] = {k: [] for k in ("pp_e", "pp_p", "tg_e", "tg_p")}
    for rep in range(args.repeats):
        salt = f"Run {rep}. "  # a different first token defeats every prefix cache
        # --- prefill: one ~500-token prompt, one token generated
        dt, c = timed(
            lambda salt=salt: engine.generate(salt + text, {"max_tokens": 1, "temperature": 0})
        )
        rates["pp_e"].append(c.usage.prompt_tokens / (c.timings.prompt_ms / 1000))
        toks = plain.tokenize((salt + text).encode(), add_bos=False)
        plain.reset()
        dt, _ = timed(lambda toks=toks: plain.eval(toks))
        rates["pp_p"].append(len(toks) / dt)
        # --- decode: greedy tokens after a short prompt
        short = f"Story {rep}: Once upon a time, in a small village by the sea,"
        c = engine.generate(short, {"max_tokens": decode_n, "temperature": 0})
        rates["tg_e"].append(c.usage.completion_tokens / (c.timings.decode_ms / 1000))
        plain.reset()
        plain.eval(plain.tokenize(short.encode(), add_bos=False))

        def plain_decode() -> int:
            n = 0
            for _ in range(decode_n):
                tok = plain.sample(temp=0.0)
                n += 1
                if tok == plain.token_eos():
                    break
                plain.eval([tok])
            return n

        dt, n = timed(plain_decode)
        rates["tg_p"].append(n / dt)
        print(
            f"rep {rep}: prefill {rates['pp_e'][-1]:.0f} vs {rates['pp_p'][-1]:.0f} t/s, "
            f"decode {rates['tg_e'][-1]:.1f} vs {rates['tg_p'][-1]:.1f} t/s",
            file=sys.stderr,
        )
    pp = [e / p for e, p in zip(rates["pp_e"], rates["pp_p"])]
    tg = [e / p for e, p in zip(rates["tg_e"], rates["tg_p"])]
    print(
        f"model {engine.name} ({engine.info.file_type}), threads {threads}, {args.repeats} interleaved repeats"
    )
    print(
        f"prefill  edgewise {median(rates['pp_e']):7.1f} t/s   plain llama-cpp-python {median(rates['pp_p']):7.1f} t/s   ratio {median(pp):.3f}"
    )
    print(
        f"decode   edgewise {median(rates['tg_e']):7.1f} t/s   plain llama-cpp-python {median(rates['tg_p']):7.1f} t/s   ratio {median(tg):.3f}"
    )


if __name__ == "__main__":
    main()
