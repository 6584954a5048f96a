"""What a batch job is: the task and its options, the input records, and the code that turns a
chunk of records into output rows on one engine.

Everything here is plain data or importable functions, so a job can be sent to worker
processes and to Ray actors unchanged. The same ``Processor`` runs in both places, which is
why the local and the Ray output are the same for the same input. What a task does with a
chunk, and the rows it writes, come from the task registry (``edgewise.tasks.registry``), as
they do for the interactive commands and the server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from edgewise.engines.base import Engine
from edgewise.errors import EdgewiseError, InputError
from edgewise.jsonl import json_objects
from edgewise.tasks.registry import Item, Task, email_item, get_task, task_names


@dataclass
class Record(Item):
    """One input record: its id, the text a model reads, or why it has none.

    ``meta`` holds fields copied into the output row (triage: the sender and subject)."""

    # the JSONL object the record came from (other fields, e.g. a feedback label); not shipped
    source: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_row(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "error": self.error, "meta": self.meta}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Record:
        return cls(row["id"], row["text"] or "", row.get("error"), dict(row.get("meta") or {}))


class JobSpec(BaseModel, extra="forbid"):
    """A batch job: task, task options (the fields of the task's options model), model."""

    task: str = Field(description="A task a batch job runs: classify, extract, summarize, triage.")
    options: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    field: str = Field(default="text", description="The JSONL field holding the text.")
    calibration_texts: list[str] = Field(
        default_factory=list,
        description="Texts the classifier's calibration is drawn from; fixed by the job so "
        "that every worker, and a resumed run, calibrates the same way.",
    )

    @field_validator("task")
    @classmethod
    def _known(cls, name: str) -> str:
        if get_task(name).batch:
            return name
        raise InputError(
            f"{name} is not a batch task; batch tasks: {', '.join(task_names(batch=True))}"
        )

    @model_validator(mode="after")
    def _options(self) -> JobSpec:
        """The options checked now, with every default filled in: an invalid option fails in
        the driver, not in each worker, and a job's fingerprint does not depend on whether a
        default was spelled out."""
        parsed = get_task(self.task).parse(self.options)
        self.options = parsed.model_dump(mode="json", by_alias=True)
        return self

    def bound(self) -> Task[Any, Any]:
        """The job's task with its options (not built: no engine)."""
        return get_task(self.task)(self.options)

    def pinned(self) -> JobSpec:
        """This job with its model named: no model means the default the driver resolves now
        (``bundled.default_model()``), so every worker (a process, a Ray actor on another node
        with other extras installed, a resumed run) runs the same one."""
        if self.model:
            return self
        from edgewise.bundled import default_model

        return self.model_copy(update={"model": default_model()[0]})

    def fingerprint(self, input_path: str | Path) -> str:
        """Identifies the job and its input: a checkpoint from another job is not resumed."""
        data = self.model_dump(exclude={"calibration_texts"})
        data["model_file"] = _model_file(self.model)
        data["input"] = input_identity(Path(input_path))
        raw = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(raw).hexdigest()[:32]


def _model_file(model: str | None) -> str:
    from edgewise.resolver import resolve

    try:
        path = resolve(model).path
        return f"{path}:{path.stat().st_size}"
    except (EdgewiseError, OSError, AttributeError):
        return str(model)


def input_identity(path: Path) -> dict[str, Any]:
    """Path, size and modification time of the input (of every .eml file in a directory)."""
    path = path.resolve()
    if path.is_dir():
        digest = hashlib.sha256()
        for p in sorted(path.glob("*.eml")):
            st = p.stat()
            digest.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return {"path": str(path), "files": digest.hexdigest()}
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# ---------------------------------------------------------------------------------- input
def iter_jsonl(path: str | Path, text_field: str = "text") -> Iterator[Record]:
    """Records of a JSONL file, read lazily. The id is the record's ``id`` (as a string) or its
    line number; a line that is not a JSON object, or has no string ``text_field``, is a record
    with ``error`` set, so it is reported rather than dropped."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        for n, obj, problem in json_objects(fh):
            if obj is None:
                yield Record(f"line-{n}", "", problem)
                continue
            rid = str(obj.get("id", n))
            try:  # a "\ud800" escape is valid JSON but no text: it would fail on output
                json.dumps(obj, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                code = ord(exc.object[exc.start])
                try:
                    rid.encode("utf-8")
                except UnicodeEncodeError:
                    rid = f"line-{n}"
                yield Record(
                    rid, "", f"line {n}: not valid Unicode (a lone surrogate, U+{code:04X})"
                )
                continue
            value = obj.get(text_field)
            if not isinstance(value, str):
                yield Record(rid, "", f"line {n}: no string field {text_field!r}", source=obj)
            else:
                yield Record(rid, value, source=obj)


def iter_records(spec: JobSpec, path: str | Path) -> Iterator[Record]:
    """The job's input records: JSONL, or for triage an mbox, a .eml directory or JSONL."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if not (path.is_file() or path.is_dir()):
        # a pipe would be empty on the second pass and cannot be resumed from
        raise InputError(
            f"{path}: not a regular file (a pipe?); a batch job reads its input twice and "
            "resumes from it, so save it to a file first"
        )
    if get_task(spec.task).inbox:
        from edgewise.tasks.mail import read_inbox

        for mail in read_inbox(path):
            item = email_item(mail)
            yield Record(item.id, item.text, item.error, item.meta)
        return
    if path.is_dir():
        raise InputError(f"{path} is a directory; {spec.task} reads a JSONL file")
    yield from iter_jsonl(path, spec.field)


def unique_ids(records: Iterator[Record]) -> Iterator[Record]:
    """Make ids unique: a repeated id gets ``#2``, ``#3``... in input order (deterministic, so
    a resumed run names them the same way)."""
    seen: dict[str, int] = {}
    for rec in records:
        n = seen.get(rec.id, 0) + 1
        seen[rec.id] = n
        if n > 1:
            new = f"{rec.id}#{n}"
            while new in seen:
                n += 1
                new = f"{rec.id}#{n}"
            seen[rec.id] = n
            seen[new] = 1
            rec.id = new
        yield rec


def calibration_sample(spec: JobSpec, records: Sequence[Record]) -> list[str]:
    """The texts the interactive commands would calibrate on for the same input: the first 200
    good texts (``edgewise classify``), or the good ones of the first batch (``triage``)."""
    return spec.bound().calibration_sample(records)


# ---------------------------------------------------------------------------------- work
class Processor:
    """Turns chunks of records into output rows (one per record, with its id) on one engine."""

    def __init__(self, spec: JobSpec, engine: Engine) -> None:
        self.spec = spec
        self.engine = engine
        self.task = spec.bound().build(engine)
        self.task.prepare(spec.calibration_texts)

    def process(self, records: Sequence[Record]) -> list[dict[str, Any]]:
        """One row per record, in order; a record that fails gets ``error`` in its row. The
        whole chunk is one model call: the batch an item is scored in shifts its scores
        slightly, so a chunk gives the same rows wherever it runs."""
        results = self.task.run_many(records)
        return [self.task.row(rec, res) for rec, res in zip(records, results, strict=True)]


def failure_row(spec: JobSpec, rec: Record, reason: str) -> dict[str, Any]:
    """The output row of a record that could not be processed (a worker died on it)."""
    return spec.bound().failure_row(rec, reason)


def load_engine(spec: JobSpec, threads: int | None) -> Engine:
    from edgewise.resolver import load

    return load(spec.model, threads=threads)
