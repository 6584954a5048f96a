"""Task routes: classify, extract, summarize, triage — the library's functions over HTTP.

Classifiers are cached per model and label set, so the prompt prefix stays warm in the
engine's cache and the calibration is computed once per label set, as in a Python program
that keeps a ``Classifier``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgewise.engines.base import Engine
from edgewise.errors import InputError
from edgewise.server.common import disconnect_probe, state
from edgewise.server.scheduler import LoadedModel
from edgewise.server.settings import parse_keep_alive
from edgewise.structured import compile_schema
from edgewise.tasks.classify import Classification, Classifier, Example
from edgewise.tasks.extract import Extractor
from edgewise.tasks.mail import Email
from edgewise.tasks.summarize import Summarizer, Summary
from edgewise.tasks.triage import TriageResult, triage_classifier, triage_emails

router = APIRouter(tags=["Tasks"])
MAX_ITEMS = 256


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _TaskRequest(_Strict):
    model: str | None = Field(default=None, description="Model name; default: the server's.")
    keep_alive: float | str | None = Field(
        default=None, description="How long the model stays loaded afterwards ('5m', 0, -1)."
    )


class ExampleIn(_Strict):
    text: str
    label: str


class ClassifyRequest(_TaskRequest):
    """Give ``text`` (one) or ``texts`` (a batch sharing one prompt evaluation)."""

    text: str | None = None
    texts: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    labels: list[str] = Field(min_length=2, max_length=64, description="Candidate labels.")
    descriptions: dict[str, str] | None = Field(default=None, description="Label -> meaning.")
    examples: list[ExampleIn] | None = Field(default=None, max_length=64)
    multi_label: bool = False
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Abstain (or, multi-label, drop) below this."
    )
    calibrate: bool = True
    calibration: Literal["domain", "content_free"] = "domain"

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of text or texts")
        return self


class ClassifyResponse(BaseModel):
    model: str
    results: list[Classification]
    ms: float = Field(description="Wall time of the request on the server, queueing included.")


class ExtractRequest(_TaskRequest):
    text: str | None = None
    texts: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    json_schema: dict[str, Any] = Field(
        alias="schema", description="JSON Schema the output must follow."
    )
    instructions: str | None = None
    max_retries: int = Field(default=2, ge=0, le=5)
    max_input_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int = Field(default=512, ge=1, le=4096)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

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


class SummarizeRequest(_TaskRequest):
    text: str = Field(min_length=1)
    type: Literal["tldr", "key_points", "headline", "teaser"] = "tldr"
    length: Literal["short", "medium", "long"] = "medium"
    language: str | None = None
    context: str | None = None


class SummarizeResponse(BaseModel):
    model: str
    summary: Summary
    ms: float


class EmailIn(_Strict):
    id: str | None = None
    subject: str = ""
    sender: str = Field(default="", alias="from")
    date: str = ""
    body: str = ""
    attachments: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TriageRequest(_TaskRequest):
    emails: list[EmailIn] = Field(min_length=1, max_length=MAX_ITEMS)
    labels: list[str] | None = Field(default=None, min_length=2, max_length=64)
    descriptions: dict[str, str] | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class TriageOut(TriageResult):
    model_config = ConfigDict(serialize_by_alias=True)


class TriageResponse(BaseModel):
    model: str
    results: list[TriageOut]
    ms: float


def _keep(value: float | str | None) -> float | None | str:
    return "default" if value is None else parse_keep_alive(value)


def _classifier(engine: Engine, model: LoadedModel, req: ClassifyRequest) -> Classifier:
    key = (
        "classify",
        tuple(req.labels),
        json.dumps(req.descriptions, sort_keys=True),
        json.dumps([e.model_dump() for e in req.examples or []]),
        req.multi_label,
        req.threshold,
        req.calibrate,
        req.calibration,
    )
    return model.cached(
        key,
        lambda: Classifier(
            engine,
            req.labels,
            descriptions=req.descriptions,
            examples=[Example(text=e.text, label=e.label) for e in req.examples or []],
            multi_label=req.multi_label,
            threshold=req.threshold,
            calibrate=req.calibrate,
            calibration=req.calibration,
        ),
    )


@router.post("/v1/classify", response_model=ClassifyResponse, summary="Classify text")
async def classify(body: ClassifyRequest, request: Request) -> ClassifyResponse:
    st = state(request)
    texts = [body.text] if body.text is not None else list(body.texts or [])
    if body.text is not None and not body.text.strip():
        raise InputError("text is empty: nothing to classify")
    t0 = time.perf_counter()

    def run(engine: Engine, model: LoadedModel) -> tuple[list[Classification], str]:
        clf = _classifier(engine, model, body)
        return clf.classify_many(texts), model.name

    results, name = await st.pool.call(
        body.model, run, keep_alive=_keep(body.keep_alive), disconnected=disconnect_probe(request)
    )
    return ClassifyResponse(
        model=name, results=results, ms=round((time.perf_counter() - t0) * 1000, 2)
    )


@router.post("/v1/extract", response_model=ExtractResponse, summary="Extract JSON to a schema")
async def extract(body: ExtractRequest, request: Request) -> ExtractResponse:
    st = state(request)
    texts = [body.text] if body.text is not None else list(body.texts or [])
    t0 = time.perf_counter()

    def make(engine: Engine) -> Extractor:
        return Extractor(
            engine,
            body.json_schema,
            instructions=body.instructions,
            max_retries=body.max_retries,
            max_input_tokens=body.max_input_tokens,
            max_tokens=body.max_tokens,
        )

    compile_schema(body.json_schema)  # a schema error is a 400 before waiting for the model

    def run(engine: Engine, model: LoadedModel) -> tuple[list[Any], str]:
        return make(engine).extract_many(texts), model.name

    results, name = await st.pool.call(
        body.model, run, keep_alive=_keep(body.keep_alive), disconnected=disconnect_probe(request)
    )
    if body.text is not None and results[0].error and not results[0].attempts:
        raise InputError(results[0].error)
    return ExtractResponse(
        model=name,
        results=[ExtractionOut(**r.model_dump()) for r in results],
        ms=round((time.perf_counter() - t0) * 1000, 2),
    )


@router.post("/v1/summarize", response_model=SummarizeResponse, summary="Summarize text")
async def summarize(body: SummarizeRequest, request: Request) -> SummarizeResponse:
    st = state(request)
    if not body.text.strip():
        raise InputError("text is empty: nothing to summarize")
    t0 = time.perf_counter()

    def run(engine: Engine, model: LoadedModel) -> tuple[Summary, str]:
        summarizer = Summarizer(
            engine,
            type=body.type,
            length=body.length,
            language=body.language,
            context=body.context,
        )
        return summarizer.summarize(body.text), model.name

    summary, name = await st.pool.call(
        body.model, run, keep_alive=_keep(body.keep_alive), disconnected=disconnect_probe(request)
    )
    return SummarizeResponse(
        model=name, summary=summary, ms=round((time.perf_counter() - t0) * 1000, 2)
    )


@router.post("/v1/triage", response_model=TriageResponse, summary="Triage emails")
async def triage(body: TriageRequest, request: Request) -> TriageResponse:
    st = state(request)
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

    def run(engine: Engine, model: LoadedModel) -> tuple[list[TriageResult], str]:
        key = (
            "triage",
            tuple(body.labels or ()),
            json.dumps(body.descriptions, sort_keys=True),
            body.threshold,
        )
        clf = model.cached(
            key,
            lambda: triage_classifier(
                engine,
                labels=body.labels,
                descriptions=body.descriptions,
                threshold=body.threshold,
            ),
        )
        return list(triage_emails(emails, clf)), model.name

    results, name = await st.pool.call(
        body.model, run, keep_alive=_keep(body.keep_alive), disconnected=disconnect_probe(request)
    )
    return TriageResponse(
        model=name,
        results=[TriageOut(**r.model_dump()) for r in results],
        ms=round((time.perf_counter() - t0) * 1000, 2),
    )
