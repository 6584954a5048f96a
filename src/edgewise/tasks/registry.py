"""The task registry: one entry per task name, which every surface runs the task through.

The CLI, batch jobs, ``edgewise bench`` and the server each used to say for themselves how a
task named "classify" is built and what its rows look like, and their rows had drifted apart.
An entry here says it once, for one task:

- its options: a pydantic model whose ``Field(description=...)`` texts are both the CLI's
  ``--help`` and the server's OpenAPI, so an option added here reaches every surface;
- how to build it on an engine (``build``: options -> the library object that does the work);
- how to run many items (``run_many``, with progress), and ``prepare`` (the calibration);
- the row a result becomes (``row``) and the row of an item that failed (``failure_row``):
  the same keys either way, so every line of a JSONL output has them.

::

    task = get_task("summarize")({"type": "headline"}).build(engine)
    for row in task.rows([Item("1", "The council met on Monday ...")]):
        ...

Entries register with ``@register_task``; ``get_task`` names the valid tasks when a name is
not one of them. Only the task modules beside this one are imported (never personal, batch,
the CLI or the server), so every layer above may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from edgewise.engines.base import Engine
from edgewise.errors import EdgewiseError, InputError, UnknownTaskError
from edgewise.tasks.classify import Classification, Classifier
from edgewise.tasks.extract import Extraction, Extractor
from edgewise.tasks.mail import Email
from edgewise.tasks.options import (
    ClassifyOptions,
    ExtractOptions,
    RouteOptions,
    SummarizeOptions,
    TriageOptions,
)
from edgewise.tasks.route import Decision, Router
from edgewise.tasks.summarize import Summarizer, Summary
from edgewise.tasks.triage import (
    BATCH,
    TriageResult,
    email_problem,
    triage_classifier,
    triage_result,
)

Progress = Callable[[int, int], None]
OptionsT = TypeVar("OptionsT", bound=BaseModel)
ResultT = TypeVar("ResultT")

CALIBRATION_SAMPLE = 200  # texts a batch job's classifier draws its domain calibration from


@dataclass
class Item:
    """One input of a task: its id, the text a model reads, or why it has none (``error``).

    ``meta`` holds fields copied into the item's row (triage: the sender and the subject)."""

    id: str
    text: str
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    """An item a task could not process: why, and the exception when one was raised (a
    surface that serves a single item raises it again, so its type decides the exit status
    or the HTTP status)."""

    error: str
    exception: BaseException | None = None


def failed_fields(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of a result model, empty: None, or the empty collection a field defaults
    to. A failed item's row has the keys of a result row, so every output line has them."""
    row: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        factory = info.default_factory
        row[name] = factory() if factory is not None else None  # type: ignore[call-arg]
    return row


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# ------------------------------------------------------------------------------- the registry
class Task(Generic[OptionsT, ResultT]):
    """One task bound to its options (and, once built, to the library object that runs it).

    Subclasses set ``name``, ``Options`` and ``Result`` and implement ``make_runner`` and
    ``run_many``; ``@register_task`` makes them known by name."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    Result: ClassVar[type[BaseModel]]  # a row has its fields (and id and error)
    batch: ClassVar[bool] = True  # offered by `edgewise batch` and JobSpec
    batch_chunk: ClassVar[int] = 32  # items per model call in a batch job (a checkpoint step)
    run_chunk: ClassVar[int | None] = None  # items per run_many call in results(); None: all
    reuse: ClassVar[bool] = False  # the runner keeps state worth keeping (a warm prompt)
    inbox: ClassVar[bool] = False  # reads an inbox (mbox, .eml folder, JSONL), see email_item

    def __init__(self, options: OptionsT | Mapping[str, Any] | None = None, *, runner: Any = None):
        """``options``: the options model, or a mapping of its fields (validated here).
        ``runner``: an already made runner (e.g. a PersonalClassifier) instead of ``build``."""
        self.options: OptionsT = self.parse(options)
        self._runner = runner

    @classmethod
    def parse(cls, options: BaseModel | Mapping[str, Any] | None) -> OptionsT:
        """The options validated; an invalid one is a one-line InputError naming it. A model
        that extends the options (the server's request) gives only the options' fields."""
        if type(options) is cls.Options:
            return options  # type: ignore[return-value]
        data: Any = options
        if isinstance(options, BaseModel):
            data = options.model_dump(by_alias=True, include=set(cls.Options.model_fields))
        try:
            return cls.Options.model_validate(dict(data or {}))  # type: ignore[return-value]
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "options"
            raise InputError(f"{cls.name} options: {where}: {err['msg']}") from None

    def build(self, engine: Engine) -> Task[OptionsT, ResultT]:
        """Make the runner on ``engine`` (an invalid option fails here, before any item)."""
        self._runner = self.make_runner(engine)
        return self

    @property
    def runner(self) -> Any:
        if self._runner is None:
            raise RuntimeError(f"the {self.name} task was not built: call build(engine)")
        return self._runner

    def make_runner(self, engine: Engine) -> Any:
        """The library object that does the work on ``engine`` (a Classifier, a Router...)."""
        raise NotImplementedError

    def prepare(self, texts: Sequence[str]) -> None:
        """Compute what a run would otherwise compute on its first items (a calibration),
        from ``texts``; nothing for tasks without such state."""

    def calibration_sample(self, items: Sequence[Item]) -> list[str]:
        """The texts ``prepare`` takes for a job over ``items`` (its first records)."""
        return []

    def run_many(self, items: Sequence[Item], progress: Progress | None = None) -> list[Any]:
        """One result per item, in order: a result (which may carry its own ``error``), or a
        ``Failure`` for an item that came with ``error`` set or could not be processed.
        ``progress(done, total)`` as the work goes."""
        raise NotImplementedError

    def results(
        self,
        items: Iterable[Item],
        *,
        progress: Progress | None = None,
        total: int | None = None,
    ) -> Iterator[tuple[Item, Any]]:
        """(item, result) for every item, in order. Tasks with ``run_chunk`` read ``items``
        lazily, that many at a time (memory stays flat over an inbox of any size), and report
        progress over ``total`` (0: not known)."""
        if self.run_chunk is None:
            batch = list(items)
            yield from zip(batch, self.run_many(batch, progress), strict=True)
            return
        if total is None:
            total = len(items) if isinstance(items, Sized) else 0
        done = 0

        def inner(n: int, _total: int) -> None:
            assert progress is not None
            progress(done + n, total or 0)

        for chunk in _chunks(items, self.run_chunk):
            out = self.run_many(chunk, inner if progress is not None else None)
            yield from zip(chunk, out, strict=True)
            done += len(chunk)
            if progress is not None:
                progress(done, total or 0)

    def rows(
        self, items: Iterable[Item], *, progress: Progress | None = None, total: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The output row of every item, in order (``results`` made rows)."""
        for item, result in self.results(items, progress=progress, total=total):
            yield self.row(item, result)

    def row(self, item: Item, result: Any) -> dict[str, Any]:
        """The row of one item: its id and its result's fields (``failure_row`` on a Failure)."""
        if isinstance(result, Failure):
            return self.failure_row(item, result.error)
        return {"id": item.id, **result.model_dump()}

    def failure_row(self, item: Item, error: str) -> dict[str, Any]:
        """The row of an item that could not be processed: the keys of a result row."""
        return {"id": item.id, **failed_fields(self.Result), "error": error}

    def _good(self, items: Sequence[Item]) -> list[Item]:
        return [it for it in items if it.error is None]

    @staticmethod
    def _merge(items: Sequence[Item], results: Iterable[Any]) -> list[Any]:
        """The results of the good items, with a Failure in the place of every bad one."""
        it = iter(results)
        return [next(it) if item.error is None else Failure(item.error) for item in items]


TASKS: dict[str, type[Task[Any, Any]]] = {}
T = TypeVar("T", bound=type[Task[Any, Any]])


def register_task(cls: T) -> T:
    """Class decorator: make a Task subclass known by its ``name``."""
    if cls.name in TASKS:
        raise ValueError(f"task {cls.name!r} is registered twice")
    TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type[Task[Any, Any]]:
    """The task registered as ``name``; UnknownTaskError lists the valid names."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(str(name), task_names()) from None


def task_names(*, batch: bool | None = None) -> list[str]:
    """Registered task names (``batch=True``: those a batch job runs), in registration order."""
    return [n for n, cls in TASKS.items() if batch is None or cls.batch == batch]


# ------------------------------------------------------------------------------- classify
@register_task
class ClassifyTask(Task[ClassifyOptions, Classification]):
    name = "classify"
    Options = ClassifyOptions
    Result = Classification
    reuse = True

    def make_runner(self, engine: Engine) -> Classifier:
        return Classifier(engine, self.options.labels, **self.options.classifier_kwargs())

    def prepare(self, texts: Sequence[str]) -> None:
        self.runner.prepare(texts)

    def calibration_sample(self, items: Sequence[Item]) -> list[str]:
        """The first 200 good texts: what ``edgewise classify`` calibrates on."""
        return [it.text for it in items if it.error is None][:CALIBRATION_SAMPLE]

    def run_many(self, items: Sequence[Item], progress: Progress | None = None) -> list[Any]:
        texts = [it.text for it in self._good(items)]
        return self._merge(items, self.runner.classify_many(texts, progress=progress))


# ------------------------------------------------------------------------------- route
ROUTE_KEYS = ("route", "action", "label", "confidence", "abstained", "ms", "error")


@register_task
class RouteTask(Task[RouteOptions, Decision]):
    name = "route"
    Options = RouteOptions
    Result = Decision
    batch = False
    reuse = True

    def make_runner(self, engine: Engine) -> Router:
        return Router(self.options.rules, engine)

    def run_many(self, items: Sequence[Item], progress: Progress | None = None) -> list[Any]:
        texts = [it.text for it in self._good(items)]
        return self._merge(items, self.runner.route_many(texts, progress=progress))

    def row(self, item: Item, result: Any) -> dict[str, Any]:
        """The route, its action and the classification's fields, flat."""
        if isinstance(result, Failure):
            return self.failure_row(item, result.error)
        c = result.classification
        ok = c.error is None
        values = [
            result.route if ok else None,
            result.action.model_dump(exclude_none=True) if ok else None,
            *(c.label, c.confidence, c.abstained, c.ms, c.error),
        ]
        return {"id": item.id, **dict(zip(ROUTE_KEYS, values, strict=True))}

    def failure_row(self, item: Item, error: str) -> dict[str, Any]:
        return {"id": item.id, **dict.fromkeys(ROUTE_KEYS), "error": error}


# ------------------------------------------------------------------------------- triage
def email_item(mail: Email) -> Item:
    """A triage item: the email's text for the model, its sender and subject for the row."""
    problem = email_problem(mail)
    text = mail.as_text() if mail.error is None else ""
    return Item(mail.id, text, problem, {"from": mail.sender, "subject": mail.subject})


@register_task
class TriageTask(Task[TriageOptions, TriageResult]):
    name = "triage"
    Options = TriageOptions
    Result = TriageResult
    run_chunk = BATCH  # an inbox is read lazily, a batch at a time
    reuse = True
    inbox = True

    def make_runner(self, engine: Engine) -> Classifier:
        o = self.options
        return triage_classifier(
            engine,
            labels=o.labels,
            descriptions=o.descriptions,
            examples=None if o.examples is None else [e.model_dump() for e in o.examples],
            threshold=o.threshold,
            max_input_tokens=o.max_input_tokens,
        )

    def prepare(self, texts: Sequence[str]) -> None:
        self.runner.prepare(texts)

    def calibration_sample(self, items: Sequence[Item]) -> list[str]:
        """The good texts of the first batch: what ``edgewise triage`` calibrates on."""
        return [it.text for it in items[:BATCH] if it.error is None]

    def run_many(self, items: Sequence[Item], progress: Progress | None = None) -> list[Any]:
        texts = [it.text for it in self._good(items)]
        found = iter(self.runner.classify_many(texts, progress=progress))
        out = []
        for item in items:
            res = (
                next(found) if item.error is None else Classification(label=None, error=item.error)
            )
            out.append(self._result(item, res, self.runner.labels))
        return out

    def _result(self, item: Item, res: Classification, labels: Sequence[str]) -> TriageResult:
        mail = Email(
            id=item.id,
            sender=item.meta.get("from", ""),
            subject=item.meta.get("subject", ""),
        )
        return triage_result(mail, res, self.options.abstain_label, labels)

    def row(self, item: Item, result: Any) -> dict[str, Any]:
        if isinstance(result, Failure):
            return self.failure_row(item, result.error)
        return dict(result.model_dump(by_alias=True))

    def failure_row(self, item: Item, error: str) -> dict[str, Any]:
        """A result with the error: the id, sender and subject are kept."""
        res = self._result(item, Classification(label=None, error=error), ())
        return dict(res.model_dump(by_alias=True))


# ------------------------------------------------------------------------------- extract
@register_task
class ExtractTask(Task[ExtractOptions, Extraction]):
    name = "extract"
    Options = ExtractOptions
    Result = Extraction
    batch_chunk = 4

    def make_runner(self, engine: Engine) -> Extractor:
        o = self.options
        return Extractor(
            engine,
            o.json_schema,
            instructions=o.instructions,
            max_retries=o.max_retries,
            max_input_tokens=o.max_input_tokens,
            max_tokens=o.max_tokens,
        )

    def run_many(self, items: Sequence[Item], progress: Progress | None = None) -> list[Any]:
        texts = [it.text for it in self._good(items)]
        return self._merge(items, self.runner.extract_many(texts, progress=progress))


# ------------------------------------------------------------------------------- summarize
@register_task
class SummarizeTask(Task[SummarizeOptions, Summary]):
    name = "summarize"
    Options = SummarizeOptions
    Result = Summary
    batch_chunk = 2

    def make_runner(self, engine: Engine) -> Summarizer:
        return Summarizer(engine, **self.options.model_dump())

    def run_many(self, items: Sequence[Item], progress: Progress | None = None) -> list[Any]:
        """Each text summarized on its own; an error fails its item only. Progress counts
        items, or, for one text, the pieces a long text is split into (map-reduce)."""
        out: list[Any] = []
        for i, item in enumerate(items, 1):
            if item.error is not None:
                out.append(Failure(item.error))
                continue
            pieces = progress if progress is not None and len(items) == 1 else None
            try:
                out.append(self.runner.summarize(item.text, progress=pieces))
            except EdgewiseError as exc:
                out.append(Failure(str(exc), exc))
            if progress is not None and len(items) > 1:
                progress(i, len(items))
        return out

    def row(self, item: Item, result: Any) -> dict[str, Any]:
        if isinstance(result, Failure):
            return self.failure_row(item, result.error)
        return {"id": item.id, **result.model_dump(), "error": None}

    def failure_row(self, item: Item, error: str) -> dict[str, Any]:
        row = failed_fields(Summary)
        row.update(type=self.options.type, length=self.options.length)
        return {"id": item.id, **row, "error": error}
