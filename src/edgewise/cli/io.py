"""Task input and output for the CLI: items from an argument, a file, stdin or JSONL; results
as JSONL written atomically; a progress line on stderr."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import IO, Any

import click

from edgewise.cli.common import read_file_text, read_text_arg
from edgewise.errors import InputError
from edgewise.store import public_mode
from edgewise.tasks.registry import Item as TaskItem


@dataclass
class Item(TaskItem):
    """One input record: an id and its text (or the reason it has none), and the JSONL object
    it came from (``record``: other fields, such as a feedback label)."""

    record: dict[str, Any] = dataclass_field(default_factory=dict)


def read_items(
    text: str | None, input_path: str | None, field: str, *, arg: str = "TEXT"
) -> list[Item]:
    """Items from TEXT (or '-' for stdin) or from --input (JSONL records or one text file);
    ``arg`` is the argument's name in the command's usage, for the errors."""
    if text is not None and input_path is not None:  # usage errors: exit status 2
        raise click.UsageError(f"give either {arg} or --input, not both")
    if input_path is None:
        if text is None:
            raise click.UsageError(
                f"give a {arg} argument, '-' for standard input, or --input FILE"
            )
        return [Item("1", read_text_arg(text))]
    path = Path(input_path)
    if path.suffix.lower() != ".jsonl":
        return [Item(path.stem, read_file_text(input_path))]
    from edgewise.batch.job import iter_jsonl  # the same reader as `edgewise batch`

    items = [Item(r.id, r.text, r.error, record=r.source) for r in iter_jsonl(path, field)]
    if not items:
        raise InputError(f"{path}: no records")
    return items


def drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what could not be
    written does not print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _is_stdout(st: os.stat_result) -> bool:
    """Whether ``st`` is the file standard output writes to (``--jsonl /dev/stdout``)."""
    try:
        return os.path.samestat(st, os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):  # no real stdout (a test runner's buffer)
        return False


class JsonlSink:
    """JSONL results to stdout, or to a file that appears only when complete (atomic).

    A symlink is written through (its target is replaced, the link kept); a FIFO, a device or
    another file that is not a regular one, and anything under /dev or /proc (``/dev/stdout``,
    ``/dev/fd/3``), is written to as a stream, appended to, never replaced: ``/dev/stdout``
    redirected with ``>>`` to a log keeps the log.
    """

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._tmp: str | None = None
        self._own = True  # close the stream on exit (not sys.stdout)
        self._fh: IO[str]
        if self.path is None:
            self._fh = sys.stdout
            self._own = False
            return
        # checked before any work: a bad path fails now, not after the whole run
        try:
            st: os.stat_result | None = self.path.stat()  # what the path reaches now
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise InputError(f"cannot write {self.path}: it is a directory")
        special = str(self.path.absolute()).startswith(("/dev/", "/proc/"))
        try:
            if st is not None and (special or not stat.S_ISREG(st.st_mode)):  # a stream
                if _is_stdout(st):
                    self._fh, self._own = sys.stdout, False
                else:
                    self._fh = open(self.path, "a", encoding="utf-8")  # closed in __exit__
                return
            target = Path(os.path.realpath(self.path))
            if target.parent.exists() and not target.parent.is_dir():
                raise InputError(f"cannot write {self.path}: {target.parent} is not a directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        except OSError as exc:
            raise InputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        if st is not None:  # replacing a file: keep its permissions
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
        else:
            public_mode(fd)
        self.target = target
        self._fh = os.fdopen(fd, "w", encoding="utf-8")

    @property
    def to_stdout(self) -> bool:
        """Rows go to standard output (the terminal a progress line is drawn beside)."""
        return self._fh is sys.stdout

    def write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, ensure_ascii=False) + "\n"
        try:
            self._fh.write(line)
            if self._tmp is None:  # a stream: its reader sees each row as it comes
                self._fh.flush()
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            if self.path is None:
                drop_stdout()
            where = "standard output" if self.path is None else str(self.path)
            raise InputError(f"cannot write {where}: {exc.strerror or exc}") from None

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if not self._own:
            return
        try:
            self._fh.close()
        except OSError as exc:
            if self._tmp is not None:
                Path(self._tmp).unlink(missing_ok=True)
            if exc_type is None:
                raise InputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            return
        if self._tmp is None:  # a stream
            return
        if exc_type is None:
            try:
                os.replace(self._tmp, self.target)
            except OSError as exc:
                Path(self._tmp).unlink(missing_ok=True)
                raise InputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        else:
            Path(self._tmp).unlink(missing_ok=True)


class ProgressLine:
    """``done/total, items/s, ETA`` on stderr, redrawn in place; only on a terminal."""

    def __init__(self, label: str, *, min_items: int = 4) -> None:
        self.label = label
        self.min_items = min_items
        self.start = time.perf_counter()
        self.enabled = sys.stderr.isatty()
        self.drawn = 0  # the width of the line on the terminal

    def __call__(self, done: int, total: int) -> None:
        """Draw ``done`` of ``total`` items; a total of 0 means not known (no bar, no ETA)."""
        if not self.enabled or 0 < total < self.min_items:
            return
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        if total <= 0:
            self.draw(f"{done} done  {rate:.1f} items/s")
            return
        eta = (total - done) / rate if rate > 0 else 0.0
        self.draw(f"{bar(done / max(total, 1))} {done}/{total}  {rate:.1f} items/s  ETA {eta:.0f}s")

    def draw(self, text: str) -> None:
        line = f"{self.label} {text} ".ljust(self.drawn)  # over a longer line: blank its end
        click.echo(f"\r{line}", err=True, nl=False)
        self.drawn = len(line)

    def clear(self) -> None:
        """Erase the line, so that other output can be printed on the terminal; the next
        call draws it again."""
        if self.drawn:
            click.echo("\r" + " " * self.drawn + "\r", err=True, nl=False)
            self.drawn = 0

    def close(self) -> None:
        if self.drawn:
            click.echo("", err=True)
            self.drawn = 0


def bar(fraction: float, width: int = 24) -> str:
    """``[#####-------]`` for a fraction done (clipped to 0..1)."""
    filled = int(width * min(max(fraction, 0.0), 1.0))
    return "[" + "#" * filled + "-" * (width - filled) + "]"
