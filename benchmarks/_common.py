"""Shared helpers for the side-by-side benchmarks."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--model", default="smollm2-135m", help="catalog name, registered name or GGUF path"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="threads for both sides (default: physical cores)"
    )
    p.add_argument("--repeats", type=int, default=5)
    return p


def plain_llama(path: str, threads: int, n_ctx: int = 4096, logits_all: bool = False) -> Any:
    """A plain llama_cpp.Llama with the same weight-buffer setting edgewise uses on this CPU."""
    import llama_cpp
    import llama_cpp.llama_cpp as capi

    from edgewise.engines.llamacpp import extra_buffers_safe

    extra = extra_buffers_safe()
    default = capi.llama_model_default_params

    def params() -> Any:
        p = default()
        p.use_extra_bufts = extra
        return p

    capi.llama_model_default_params = params  # Llama() reads it through the C-API module
    try:
        return llama_cpp.Llama(
            path,
            n_ctx=n_ctx,
            n_batch=512,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=logits_all,
            verbose=False,
        )
    finally:
        capi.llama_model_default_params = default


def naive_classify_prompt(
    labels: list[str], descriptions: dict[str, str] | None, examples: Any = ()
) -> tuple[str, list[dict[str, str]]]:
    """The naive classifier's system message and few-shot turns: the same label list,
    descriptions and examples edgewise gets, asked for the label as text."""
    lines = "\n".join(
        f"- {lab}: {descriptions[lab]}" if descriptions and lab in descriptions else f"- {lab}"
        for lab in labels
    )
    system = (
        "Classify the text into exactly one of the labels below.\n\n"
        f"Labels:\n{lines}\n\nAnswer with the label only."
    )
    shots: list[dict[str, str]] = []
    for ex in examples:
        shots += [
            {"role": "user", "content": f"Text:\n{ex.text}"},
            {"role": "assistant", "content": ex.label},
        ]
    return system, shots


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median(xs: list[float]) -> float:
    return statistics.median(xs)
