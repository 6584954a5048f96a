"""Task routes: classify, extract, summarize, triage — the task registry over HTTP.

A request is the task's options model (``edgewise.tasks.options``: the same fields, and the
same descriptions in the OpenAPI, as the CLI's options) plus its input, the model and
``keep_alive``; limits that protect the server (list lengths, token caps) are added here. The
task is built and run through the registry, as the CLI and batch jobs run it.

Tasks whose runner keeps state (classifiers: a warm prompt prefix in the engine's cache and a
calibration) are cached per model and options, as in a Python program that keeps a
``Classifier``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.fields import FieldInfo

from edgewise.engines.base import Engine
from edgewise.errors import InputError
from edgewise.server.common import disconnect_probe, keep_alive_of, state
from edgewise.server.scheduler import LoadedModel
from edgewise.structured import compile_schema
from edgewise.tasks.classify import Classification
from edgewise.tasks.mail import Email
from edgewise.tasks.options import (
    ClassifyOptions,
    ExtractOptions,
    LabeledText,
    SummarizeOptions,
    TriageOptions,
)
from edgewise.tasks.registry import Failure, Item, Task, email_item, get_task
from edgewise.tasks.summarize import Summary
from edgewise.tasks.triage import TriageResult

router = APIRouter(tags=["Tasks"])
MAX_ITEMS = 256


def narrowed(model: type[BaseModel], name: str, **limits: Any) -> Any:
    """The field ``name`` of an options model with the server's ``limits`` added: the same
    default, description and constraints otherwise."""
    info: FieldInfo = model.model_fields[name]
    kwargs: dict[str, Any] = {"description": info.description}
    if info.alias is not None:
        kwargs["alias"] = info.alias
    if info.default_factory is not None:
        kwargs["default_factory"] = info.default_factory
    elif not info.is_required():
        kwargs["default"] = info.default
    for meta in info.metadata:
        for key in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            if getattr(meta, key, None) is not None:
                kwargs.setdefault(key, getattr(meta, key))
    return Field(**{**kwargs, **limits})


class _TaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="Model name; default: the server's.")
    keep_alive: float | str | None = Field(
        default=None, description="How long the model stays loaded afterwards ('5m', 0, -1)."
    )


class ClassifyRequest(_TaskRequest, ClassifyOptions):
    """Give ``text`` (one) or ``texts`` (a batch sharing one prompt evaluation)."""

    text: str | None = None
    texts: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    labels: list[str] = narrowed(ClassifyOptions, "labels", min_length=2, max_length=64)
    examples: list[LabeledText] | None = narrowed(ClassifyOptions, "examples", max_length=64)

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of text or texts")
        return self


class ClassifyResponse(BaseModel):
    model: str
    results: list[Classification]
    ms: float = Field(description="Wall time of the request on the server, queueing included.")


class ExtractRequest(_TaskRequest, ExtractOptions):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    text: str | None = None
    texts: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    max_retries: int = narrowed(ExtractOptions, "max_retries", le=5)
    max_tokens: int = narrowed(ExtractOptions, "max_tokens", le=4096)

    @model_validator(mode="after")
    def _one_of(self) -> ExtractRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of text or texts")
        return self


class ExtractionOut(BaseModel):
    value: Any = Field(default=None, description="The object, valid against the schema.")
    raw: str = ""
    attempts: int = 0
    input_tokens: int = 0
    truncated: bool = False
    ms: float = 0.0
    error: str | None = None


class ExtractResponse(BaseModel):
    model: str
    results: list[ExtractionOut]
    ms: float


class SummarizeRequest(_TaskRequest, SummarizeOptions):
    text: str = Field(min_length=1)


class SummarizeResponse(BaseModel):
    model: str
    summary: Summary
    ms: float


class EmailIn(BaseModel):
    id: str | None = None
    subject: str = ""
    sender: str = Field(default="", alias="from")
    date: str = ""
    body: str = ""
    attachments: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TriageRequest(_TaskRequest, TriageOptions):
    emails: list[EmailIn] = Field(min_length=1, max_length=MAX_ITEMS)
    labels: list[str] | None = narrowed(TriageOptions, "labels", min_length=2, max_length=64)
    examples: list[LabeledText] | None = narrowed(TriageOptions, "examples", max_length=64)


class TriageOut(TriageResult):
    model_config = ConfigDict(serialize_by_alias=True)


class TriageResponse(BaseModel):
    model: str
    results: list[TriageOut]
    ms: float


def _task(name: str, body: BaseModel, engine: Engine, model: LoadedModel) -> Task[Any, Any]:
    """The task with the request's options, built on ``engine``; kept on the model when its
    runner keeps state (a classifier's warm prompt and calibration)."""
    cls = get_task(name)
    task = cls(body)  # the options fields of the request
    if not cls.reuse:
        return task.build(engine)
    key = (name, json.dumps(task.options.model_dump(mode="json"), sort_keys=True))
    return model.cached(key, lambda: task.build(engine))


async def _run(
    name: str, body: _TaskRequest, items: Sequence[Item], request: Request
) -> tuple[list[Any], str]:
    """Every item's result, in order, from the model the request names, and that model."""

    def run(engine: Engine, model: LoadedModel) -> tuple[list[Any], str]:
        task = _task(name, body, engine, model)
        return [result for _, result in task.results(items)], model.name

    return await state(request).pool.call(
        body.model,
        run,
        keep_alive=keep_alive_of(body.keep_alive),
        disconnected=disconnect_probe(request),
    )


def _items(texts: Sequence[str]) -> list[Item]:
    return [Item(str(i), text) for i, text in enumerate(texts, 1)]


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def _raised(result: Any) -> Any:
    """A result, or the error of an item the task could not process, raised."""
    if isinstance(result, Failure):
        raise result.exception or InputError(result.error)
    return result


@router.post("/v1/classify", response_model=ClassifyResponse, summary="Classify text")
async def classify(body: ClassifyRequest, request: Request) -> ClassifyResponse:
    texts = [body.text] if body.text is not None else list(body.texts or [])
    if body.text is not None and not body.text.strip():
        raise InputError("text is empty: nothing to classify")
    t0 = time.perf_counter()
    results, name = await _run("classify", body, _items(texts), request)
    return ClassifyResponse(model=name, results=[_raised(r) for r in results], ms=_ms(t0))


@router.post("/v1/extract", response_model=ExtractResponse, summary="Extract JSON to a schema")
async def extract(body: ExtractRequest, request: Request) -> ExtractResponse:
    texts = [body.text] if body.text is not None else list(body.texts or [])
    t0 = time.perf_counter()
    compile_schema(body.json_schema)  # a schema error is a 400 before waiting for the model
    results, name = await _run("extract", body, _items(texts), request)
    results = [_raised(r) for r in results]
    if body.text is not None and results[0].error and not results[0].attempts:
        raise InputError(results[0].error)
    return ExtractResponse(
        model=name, results=[ExtractionOut(**r.model_dump()) for r in results], ms=_ms(t0)
    )


@router.post("/v1/summarize", response_model=SummarizeResponse, summary="Summarize text")
async def summarize(body: SummarizeRequest, request: Request) -> SummarizeResponse:
    if not body.text.strip():
        raise InputError("text is empty: nothing to summarize")
    t0 = time.perf_counter()
    (result,), name = await _run("summarize", body, _items([body.text]), request)
    return SummarizeResponse(model=name, summary=_raised(result), ms=_ms(t0))


@router.post("/v1/triage", response_model=TriageResponse, summary="Triage emails")
async def triage(body: TriageRequest, request: Request) -> TriageResponse:
    emails = [
        Email(
            id=e.id or str(i),
            subject=e.subject,
            sender=e.sender,
            date=e.date,
            body=e.body,
            attachments=e.attachments,
        )
        for i, e in enumerate(body.emails, 1)
    ]
    t0 = time.perf_counter()
    results, name = await _run("triage", body, [email_item(m) for m in emails], request)
    return TriageResponse(
        model=name, results=[TriageOut(**r.model_dump()) for r in results], ms=_ms(t0)
    )
