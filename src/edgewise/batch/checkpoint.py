"""Crash-safe output: an append-only JSONL file that is the record of what is done, and a
checkpoint beside it that says which job wrote it and how far it got.

Durability policy:

- After every chunk the rows are written with one ``write`` and flushed to the OS, so a killed
  process (kill -9, the OOM killer, a segfault in native code) loses nothing it had written:
  the page cache keeps it.
- ``fsync`` (output, then the checkpoint, which is replaced atomically) runs at most every
  ``fsync_interval`` seconds (default 5) and at the end, so a power cut can lose the last few
  seconds of results. Those records are not lost for good: resuming recomputes them.
- The output is the source of truth on resume, not the checkpoint: every complete line in it
  is a finished record, so a record is never done twice even if the process died between
  writing rows and writing the checkpoint. A torn last line (a write cut short) and anything
  after the first line that does not parse are cut off, and those records are redone.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from edgewise.errors import InputError
from edgewise.store import atomic_write_text

VERSION = 1


def sidecar(output: Path, suffix: str) -> Path:
    return output.with_name(output.name + suffix)


class Checkpoint:
    """``OUTPUT.checkpoint.json``: the job's fingerprint and progress, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot read the checkpoint {self.path}: {exc}; delete it and the output "
                "to start the job again"
            ) from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise InputError(f"{self.path} is not an edgewise batch checkpoint")
        self.data = data
        return data

    def save(self, **fields: Any) -> None:
        self.data.update(fields, version=VERSION, updated=time.time())
        atomic_write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n")


def scan_output(path: Path) -> tuple[list[str], list[dict[str, Any]], int]:
    """The ids in a previous run's output, its failed rows, and the byte length of its valid
    prefix (only ids and failures are kept: a resumed million-row job stays small).

    Reading stops at the first line that is incomplete or is not a JSON object with an id;
    the caller truncates the file there."""
    ids: list[str] = []
    failures: list[dict[str, Any]] = []
    good = 0
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return ids, failures, 0
    with fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                break
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                break
            ids.append(obj["id"])
            if obj.get("error") is not None:
                failures.append({"id": obj["id"], "error": obj["error"]})
            good += len(line)
    return ids, failures, good


class OutputLog:
    """The append-only output file (and the errors file derived from it)."""

    def __init__(self, path: Path, errors_path: Path, fsync_interval: float = 5.0) -> None:
        self.path = path
        self.errors_path = errors_path
        self.fsync_interval = fsync_interval
        self._out: IO[bytes] | None = None
        self._err: IO[bytes] | None = None
        self._last_sync = time.monotonic()
        self.done_ids: set[str] = set()
        self.failed = 0
        self.dropped_bytes = 0

    def open(self, resume: bool) -> None:
        """Open for appending; on resume, read what is done and cut a torn tail."""
        ids: list[str] = []
        failures: list[dict[str, Any]] = []
        if resume:
            ids, failures, good = scan_output(self.path)
            size = self.path.stat().st_size if self.path.exists() else 0
            if size > good:
                self.dropped_bytes = size - good
                with self.path.open("r+b") as fh:
                    fh.truncate(good)
                    fh.flush()
                    os.fsync(fh.fileno())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = self.path.open("ab" if resume else "wb")
        self.done_ids = set(ids)
        self.failed = len(failures)
        # the errors file is rebuilt from the output, so the two always agree
        atomic_write_text(self.errors_path, "".join(_error_line(r) for r in failures))
        self._err = self.errors_path.open("ab")

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        assert self._out is not None and self._err is not None
        out: list[str] = []
        err: list[str] = []
        for row in rows:
            out.append(json.dumps(row, ensure_ascii=False) + "\n")
            self.done_ids.add(row["id"])
            if row.get("error") is not None:
                self.failed += 1
                err.append(_error_line(row))
        self._out.write("".join(out).encode("utf-8"))
        self._out.flush()
        if err:
            self._err.write("".join(err).encode("utf-8"))
            self._err.flush()

    def due(self) -> bool:
        return time.monotonic() - self._last_sync >= self.fsync_interval

    def sync(self) -> int:
        """fsync both files; returns the output's durable length."""
        assert self._out is not None and self._err is not None
        os.fsync(self._out.fileno())
        os.fsync(self._err.fileno())
        self._last_sync = time.monotonic()
        return self._out.tell()

    def close(self) -> None:
        for fh in (self._out, self._err):
            if fh is not None:
                fh.close()
        self._out = self._err = None


def _error_line(row: dict[str, Any]) -> str:
    return json.dumps({"id": row["id"], "error": row["error"]}, ensure_ascii=False) + "\n"
