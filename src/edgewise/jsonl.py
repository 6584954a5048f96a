"""JSONL input read line by line, shared by the batch records and the triage inbox."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def json_objects(
    lines: Iterable[bytes], first: int = 1
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line number, object, None)`` per line holding a JSON object, ``(n, None, why)`` per
    line that does not; blank lines are skipped (``first`` numbers the first line)."""
    for n, line in enumerate(lines, first):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:  # UnicodeDecodeError included
            yield n, None, f"line {n}: invalid JSON ({exc})"
            continue
        yield n, obj, None
