"""OpenAI-compatible routes: chat completions, completions, embeddings, models."""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from edgewise.engines.base import RenderedPrompt
from edgewise.errors import CapabilityError, InputError, ModelNotFoundError
from edgewise.server.common import (
    ChunkStream,
    ClosingStreamingResponse,
    Generation,
    Outcome,
    drive,
    dumps,
    embed_inputs,
    embed_texts,
    local_models,
    state,
)
from edgewise.types import Chunk, GenerationOptions, Message, TokenLogprob, Usage

router = APIRouter(tags=["OpenAI-compatible"])
FINGERPRINT = "edgewise"
UNBOUNDED = 131072


class _Lenient(BaseModel):
    # Clients send fields newer than this server knows (store, metadata, service_tier, ...):
    # they are ignored, as long as what they change is not something we would get wrong.
    model_config = ConfigDict(extra="allow")


class ContentPart(_Lenient):
    type: str
    text: str | None = None


class ChatMessageIn(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class JsonSchemaSpec(_Lenient):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class StreamOptions(_Lenient):
    include_usage: bool = False


class _Sampling(_Lenient):
    model: str = Field(description="Model name (GET /v1/models lists them).")
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    # extensions (llama.cpp's server has the same names)
    top_k: int | None = Field(default=None, ge=0)
    repeat_penalty: float | None = Field(default=None, ge=0.0, le=3.0)
    ignore_eos: bool = False


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    logprobs: int | None = Field(default=None, ge=0, le=5)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = Field(default=None, ge=1)


class EmbeddingRequest(_Lenient):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None


def _options(req: _Sampling, max_tokens: int | None) -> GenerationOptions:
    if req.n not in (None, 1):
        raise CapabilityError("n > 1 is not supported: send one request per choice")
    if req.logit_bias:
        raise CapabilityError("logit_bias is not supported")
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    if len(stop) > 4:
        raise InputError("stop takes at most 4 sequences")
    temperature = 1.0 if req.temperature is None else req.temperature
    top_p = 1.0 if req.top_p is None else req.top_p
    if top_p == 0.0:  # only the most likely token: greedy
        temperature, top_p = 0.0, 1.0
    data: dict[str, Any] = {
        "temperature": temperature,
        "top_p": top_p,
        "top_k": 0 if req.top_k is None else req.top_k,  # OpenAI has no top-k
        "stop": stop,
        "ignore_eos": req.ignore_eos,
    }
    if max_tokens is not None:
        data["max_tokens"] = max_tokens
    if req.seed is not None:
        data["seed"] = req.seed
    if req.repeat_penalty is not None:
        data["repeat_penalty"] = req.repeat_penalty
    return GenerationOptions.parse(data)


def _messages(items: list[ChatMessageIn]) -> list[Message]:
    out = []
    for i, m in enumerate(items):
        if m.role in ("tool", "function"):
            raise CapabilityError(f"messages[{i}]: tool messages are not supported")
        if isinstance(m.content, list):
            texts = []
            for part in m.content:
                if part.type != "text" or part.text is None:
                    raise CapabilityError(
                        f"messages[{i}]: only text content is supported, not {part.type!r}"
                    )
                texts.append(part.text)
            content = "".join(texts)
        else:
            content = m.content or ""
        role = "system" if m.role == "developer" else m.role
        out.append(Message(role=role, content=content))  # type: ignore[arg-type]
    return out


def _schema(fmt: ResponseFormat | None) -> Any:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise InputError("response_format json_schema needs json_schema.schema")
    return fmt.json_schema.schema_


def _usage(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


def _chat_logprobs(lps: list[TokenLogprob] | None) -> dict[str, Any] | None:
    if lps is None:
        return None
    return {
        "content": [
            {
                "token": t.token,
                "logprob": t.logprob,
                "bytes": t.bytes,
                "top_logprobs": [
                    {"token": a.token, "logprob": a.logprob, "bytes": a.bytes} for a in t.top
                ],
            }
            for t in lps
        ],
        "refusal": None,
    }


def _completion_logprobs(lps: list[TokenLogprob] | None, offset: int = 0) -> dict[str, Any] | None:
    if lps is None:
        return None
    offsets, pos = [], offset
    for t in lps:
        offsets.append(pos)
        pos += len(t.token)
    return {
        "tokens": [t.token for t in lps],
        "token_logprobs": [t.logprob for t in lps],
        "top_logprobs": [{a.token: a.logprob for a in t.top} for t in lps],
        "text_offset": offsets,
    }


def _sse(data: Any) -> str:
    return f"data: {dumps(data)}\n\n"


@router.get("/v1/models", summary="List the models")
async def list_models(request: Request) -> dict[str, Any]:
    st = state(request)
    models = await local_models(st)
    return {
        "object": "list",
        "data": [
            {
                "id": m["name"],
                "object": "model",
                "created": int(m["created"]),
                "owned_by": "edgewise",
            }
            for m in models
        ],
    }


@router.get("/v1/models/{model:path}", summary="Describe one model")
async def get_model(model: str, request: Request) -> dict[str, Any]:
    st = state(request)
    key, _ = await st.pool.resolve_name(model)
    for m in await local_models(st):
        if m["name"] == key:
            return {
                "id": key,
                "object": "model",
                "created": int(m["created"]),
                "owned_by": "edgewise",
            }
    raise ModelNotFoundError(model, st.pool.known())


@router.post("/v1/chat/completions", summary="Chat completion (streams as server-sent events)")
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
    st = state(request)
    if body.tools:
        raise CapabilityError("tools (function calling) are not supported")
    top = None
    if body.logprobs:
        top = body.top_logprobs or 0
    elif body.top_logprobs:
        raise InputError("top_logprobs needs logprobs: true")
    gen = Generation(
        model=body.model,
        prompt=_messages(body.messages),
        # OpenAI: no max_tokens means up to the context window (the engine stops there)
        options=_options(body, body.max_completion_tokens or body.max_tokens or UNBOUNDED),
        schema=_schema(body.response_format),
        logprobs=top,
    )
    gen.validate()
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    stream = ChunkStream(st, gen, request)
    if not body.stream:
        out: Outcome = await stream.collect()
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": out.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": out.text, "refusal": None},
                    "logprobs": _chat_logprobs(out.logprobs),
                    "finish_reason": out.finish_reason,
                }
            ],
            "usage": _usage(out.usage),
        }
    first, rest = await stream.first()
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def frame(delta: dict[str, Any], chunk: Chunk | None, finish: str | None) -> str:
        return _sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": stream.model_name,
                "system_fingerprint": FINGERPRINT,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "logprobs": _chat_logprobs(chunk.logprobs) if chunk else None,
                        "finish_reason": finish,
                    }
                ],
            }
        )

    def each(chunk: Chunk) -> Iterator[str]:
        if chunk.text or chunk.logprobs:
            yield frame({"content": chunk.text}, chunk, None)
        if chunk.finish_reason is not None:
            yield frame({}, None, chunk.finish_reason)

    def tail(final: Chunk | None) -> Iterator[str]:
        if include_usage and final is not None and final.usage is not None:
            yield _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": stream.model_name,
                    "system_fingerprint": FINGERPRINT,
                    "choices": [],
                    "usage": _usage(final.usage),
                }
            )
        yield "data: [DONE]\n\n"

    events = drive(
        first,
        rest,
        request.url.path,
        head=[frame({"role": "assistant", "content": ""}, None, None)],
        each=each,
        tail=tail,
        error=_sse,
    )
    return ClosingStreamingResponse(events, media_type="text/event-stream")


@router.post("/v1/completions", summary="Text completion (streams as server-sent events)")
async def completions(body: CompletionRequest, request: Request) -> Any:
    st = state(request)
    if body.suffix:
        raise CapabilityError("suffix (fill-in-the-middle) is not supported")
    if body.best_of not in (None, 1):
        raise CapabilityError("best_of > 1 is not supported")
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise CapabilityError("send one prompt per request (a list of prompts is not supported)")
    prompt = prompts[0]
    gen = Generation(
        model=body.model,
        prompt=RenderedPrompt(prompt),  # as llama.cpp's servers read it: special tokens parsed
        options=_options(body, body.max_tokens if body.max_tokens is not None else 16),
        logprobs=body.logprobs,
    )
    gen.validate()
    cid = "cmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    stream = ChunkStream(st, gen, request)
    echo = prompt if body.echo else ""
    if not body.stream:
        out = await stream.collect()
        return {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": out.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "text": echo + out.text,
                    "logprobs": _completion_logprobs(out.logprobs, len(echo)),
                    "finish_reason": out.finish_reason,
                }
            ],
            "usage": _usage(out.usage),
        }
    first, rest = await stream.first()
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def frame(text: str, chunk: Chunk | None, finish: str | None) -> str:
        return _sse(
            {
                "id": cid,
                "object": "text_completion",
                "created": created,
                "model": stream.model_name,
                "system_fingerprint": FINGERPRINT,
                "choices": [
                    {
                        "index": 0,
                        "text": text,
                        "logprobs": _completion_logprobs(chunk.logprobs) if chunk else None,
                        "finish_reason": finish,
                    }
                ],
            }
        )

    def each(chunk: Chunk) -> Iterator[str]:
        yield frame(chunk.text, chunk, chunk.finish_reason)

    def tail(final: Chunk | None) -> Iterator[str]:
        if include_usage and final is not None and final.usage is not None:
            yield _sse(
                {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": stream.model_name,
                    "choices": [],
                    "usage": _usage(final.usage),
                }
            )
        yield "data: [DONE]\n\n"

    events = drive(
        first,
        rest,
        request.url.path,
        head=[frame(echo, None, None)] if echo else [],
        each=each,
        tail=tail,
        error=_sse,
    )
    return ClosingStreamingResponse(events, media_type="text/event-stream")


@router.post("/v1/embeddings", summary="Embeddings (pooled, L2-normalized)")
async def embeddings(body: EmbeddingRequest, request: Request) -> dict[str, Any]:
    texts = embed_inputs(body.input)
    vectors, n_tokens, name = await embed_texts(state(request), request, body.model, texts)
    if body.dimensions is not None and vectors and body.dimensions != len(vectors[0]):
        raise CapabilityError(
            f"{name} makes {len(vectors[0])}-dimensional embeddings; "
            f"dimensions={body.dimensions} is not supported"
        )
    data = []
    for i, vec in enumerate(vectors):
        emb: Any = vec
        if body.encoding_format == "base64":
            emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {
        "object": "list",
        "data": data,
        "model": name,
        "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
    }
