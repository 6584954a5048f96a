"""Reading a benchmark's JSONL data: one item per line, bad lines reported by number."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewise.errors import InputError

TASKS = ("classify", "extract", "summarize", "generate")
# (text field, gold field) per task when not given
DEFAULT_FIELDS = {
    "classify": ("text", "label"),
    "extract": ("text", "gold"),
    "summarize": ("text", "summary"),
    "generate": ("prompt", "reference"),
}


@dataclass(frozen=True)
class BenchItem:
    line: int
    text: str
    gold: Any = None  # None when the record carries no gold answer


def _render(template: str, record: dict[str, Any]) -> str:
    """A field name, or a format template over the record's fields ("{subject}\\n\\n{body}")."""
    if "{" not in template:
        value = record.get(template)
        if value is None:
            raise KeyError(template)
        return str(value)
    names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    missing = [n for n in names if record.get(n) is None]
    if missing:
        raise KeyError(missing[0])
    return template.format_map({n: record[n] for n in names})


def load_items(
    path: str | Path,
    task: str,
    *,
    text_field: str | None = None,
    gold_field: str | None = None,
    limit: int | None = None,
) -> tuple[list[BenchItem], list[str]]:
    """Items of a JSONL file and the problems of the lines that were skipped.

    A line that is not a JSON object, or lacks the text field, is skipped and reported as
    ``line N: why``; the gold field is optional per record (quality is scored over the
    records that have it). Raises InputError if the file cannot be read or no line is usable.
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    text_key = text_field or DEFAULT_FIELDS[task][0]
    gold_key = gold_field or DEFAULT_FIELDS[task][1]
    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    items: list[BenchItem] = []
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        try:
            text = _render(text_key, record)
        except KeyError as exc:
            problems.append(f"line {number}: no field {exc.args[0]!r}")
            continue
        except (ValueError, IndexError) as exc:
            raise InputError(f"bad --text-field template {text_key!r}: {exc}") from None
        if not text.strip():
            problems.append(f"line {number}: empty text")
            continue
        gold = record.get(gold_key)
        if task == "classify" and gold is not None:
            gold = str(gold)
        if task == "extract" and gold is not None and not isinstance(gold, dict):
            problems.append(f"line {number}: {gold_key!r} must be an object of gold fields")
            continue
        items.append(BenchItem(number, text, gold))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        detail = f" ({problems[0]}{', ...' if len(problems) > 1 else ''})" if problems else ""
        raise InputError(f"{path}: no usable records for {task}{detail}")
    return items, problems
