"""Counters and gauges for ``GET /metrics`` in the Prometheus text exposition format."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"


class Metrics:
    """A small registry: counters (monotonic), gauges (set or computed at scrape time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._collectors: list[Callable[[], None]] = []
        self.counter("edgewise_requests_total", "HTTP requests by route and status code.")
        self.summary("edgewise_request_seconds", "Seconds spent answering requests, by route.")
        self.counter("edgewise_prompt_tokens_total", "Prompt tokens by model.")
        self.counter(
            "edgewise_cached_prompt_tokens_total",
            "Prompt tokens reused from an evaluated prefix (not evaluated again), by model.",
        )
        self.counter("edgewise_generated_tokens_total", "Generated tokens by model.")
        self.counter("edgewise_decode_seconds_total", "Seconds spent generating tokens, by model.")
        self.counter("edgewise_rejected_total", "Requests refused by the scheduler, by reason.")
        self.counter("edgewise_cancelled_total", "Generations stopped early, by reason.")
        self.counter("edgewise_model_loads_total", "Models loaded.")
        self.counter("edgewise_model_unloads_total", "Models unloaded, by reason.")
        self.gauge("edgewise_queue_depth", "Requests waiting for a model.")
        self.gauge("edgewise_model_busy", "1 while a model is serving a request.")
        self.gauge("edgewise_models_loaded", "Models loaded now.")
        self.gauge("edgewise_memory_bytes", "Estimated memory of the loaded models.")
        self.gauge("edgewise_memory_budget_bytes", "The memory budget for loaded models.")
        self.gauge("edgewise_tokens_per_second", "Decode speed of the last generation, by model.")
        self.counter("edgewise_audio_seconds_total", "Seconds of audio transcribed, by model.")
        self.counter(
            "edgewise_transcribe_seconds_total", "Seconds spent transcribing, by speech model."
        )

    def counter(self, name: str, help_text: str) -> None:
        self._help[name] = ("counter", help_text)

    def gauge(self, name: str, help_text: str) -> None:
        self._help[name] = ("gauge", help_text)

    def summary(self, name: str, help_text: str) -> None:
        self._help[name] = ("summary", help_text)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.inc(name + "_sum", value, **labels)
        self.inc(name + "_count", 1.0, **labels)

    def add_collector(self, fn: Callable[[], None]) -> None:
        """``fn`` sets gauges right before each scrape."""
        self._collectors.append(fn)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] = value

    def clear(self, name: str) -> None:
        with self._lock:
            self._values[name] = {}

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        for fn in self._collectors:
            fn()
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in self._help.items():
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                parts = ("_sum", "_count") if kind == "summary" else ("",)
                for part in parts:
                    for key, value in sorted(self._values.get(name + part, {}).items()):
                        lines.append(f"{name}{part}{_labels(key)} {value:g}")
        return "\n".join(lines) + "\n"
