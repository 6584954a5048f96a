"""Ollama-compatible routes: chat, generate (NDJSON streams), tags, show, embed, version, ps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from edgewise.engines.base import RenderedPrompt
from edgewise.errors import CapabilityError, InputError, InvalidOptionsError
from edgewise.server.common import (
    ChunkStream,
    ClosingStreamingResponse,
    Generation,
    ServerState,
    details,
    drive,
    dumps,
    embed_inputs,
    embed_texts,
    keep_alive_of,
    local_models,
    state,
)
from edgewise.types import Chunk, GenerationOptions, Message

router = APIRouter(tags=["Ollama-compatible"])
OLLAMA_VERSION = "0.9.0"  # the Ollama API level these routes follow
UNBOUNDED = 131072  # num_predict -1: until the model stops or the context is full
# Ollama's sampling defaults, so an app gets what it would get from Ollama
DEFAULTS = {"temperature": 0.8, "top_k": 40, "top_p": 0.9, "repeat_penalty": 1.1}
OPTION_MAP = {
    "num_predict": "max_tokens",
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "repeat_penalty": "repeat_penalty",
}
# accepted and ignored: they tune Ollama's runtime or samplers edgewise does not have
IGNORED_OPTIONS = {
    "num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "num_keep", "numa",
    "use_mmap", "use_mlock", "low_vram", "vocab_only", "f16_kv", "min_p", "typical_p",
    "repeat_last_n", "presence_penalty", "frequency_penalty", "mirostat", "mirostat_tau",
    "mirostat_eta", "penalize_newline", "tfs_z",
}  # fmt: skip
FOREVER = "2318-11-06T00:00:00Z"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class OllamaMessage(_Lenient):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[Any] | None = None


class _Common(_Lenient):
    model: str = Field(description="Model name (GET /api/tags lists them).")
    stream: bool = True
    format: str | dict[str, Any] | None = Field(
        default=None, description='"json", or a JSON Schema the output must follow.'
    )
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = Field(
        default=None, description="How long the model stays loaded: '5m', seconds, 0, -1."
    )


class ChatRequest(_Common):
    messages: list[OllamaMessage] = Field(default_factory=list)
    tools: list[Any] | None = None
    think: bool | str | None = None


class GenerateRequest(_Common):
    prompt: str = ""
    system: str | None = None
    suffix: str | None = None
    template: str | None = None
    raw: bool = False
    images: list[str] | None = None
    context: list[int] | None = None
    think: bool | str | None = None


class ShowRequest(_Lenient):
    model: str | None = None
    name: str | None = None  # older clients
    verbose: bool | None = None


class EmbedRequest(_Lenient):
    model: str
    input: str | list[str]
    truncate: bool | None = None
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None
    dimensions: int | None = None


class LegacyEmbeddingsRequest(_Lenient):
    model: str
    prompt: str
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def options_from(opts: dict[str, Any] | None) -> GenerationOptions:
    data: dict[str, Any] = dict(DEFAULTS)
    for key, value in (opts or {}).items():
        if key in IGNORED_OPTIONS:
            continue
        if key not in OPTION_MAP:
            raise InvalidOptionsError(f"options.{key}: unknown option")
        if key == "num_predict":
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidOptionsError("options.num_predict: must be an integer")
            value = UNBOUNDED if value < 0 else value
            if value == 0:
                raise InvalidOptionsError("options.num_predict: must not be 0")
        data[OPTION_MAP[key]] = value
    data.setdefault("max_tokens", UNBOUNDED)
    return GenerationOptions.parse(data)


def _schema(fmt: str | dict[str, Any] | None) -> Any:
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return {"type": "object"}
    if isinstance(fmt, dict):
        return fmt
    raise InputError(f'format must be "json" or a JSON Schema object, not {fmt!r}')


# ---------------------------------------------------------------------- routes
@router.get("/api/version", summary="The Ollama API version served")
async def version() -> dict[str, str]:
    from edgewise import __version__

    return {"version": OLLAMA_VERSION, "edgewise": __version__}


@router.get("/api/tags", summary="Models available locally")
async def tags(request: Request) -> dict[str, Any]:
    models = await local_models(state(request))
    return {
        "models": [
            {
                "name": m["name"],
                "model": m["name"],
                "modified_at": _iso(m["created"]),
                "size": m["size"],
                "digest": m["digest"],
                "details": m["details"],
            }
            for m in models
        ]
    }


@router.get("/api/ps", summary="Models loaded now")
async def ps(request: Request) -> dict[str, Any]:
    st = state(request)
    now_mono, now = time.monotonic(), time.time()
    out = []
    for m in st.pool.models.values():
        entry = getattr(m.engine, "entry", None)
        expires = FOREVER if m.expires_at is None else _iso(now + (m.expires_at - now_mono))
        out.append(
            {
                "name": m.name,
                "model": m.name,
                "size": m.size,
                "digest": "",
                "details": details(entry, m.resolved.quant if m.resolved else None, m.engine),
                "expires_at": expires,
                "size_vram": 0,
                "context_length": getattr(m.engine, "n_ctx", 0),
            }
        )
    return {"models": out}


@router.post("/api/show", summary="Details of one model")
async def show(body: ShowRequest, request: Request) -> dict[str, Any]:
    st = state(request)
    name = body.model or body.name
    if not name:
        raise InputError("give the model's name in 'model'")
    loop = asyncio.get_running_loop()
    key, resolved = await st.pool.resolve_name(name)
    loaded = st.pool.models.get(key)
    engine = loaded.engine if loaded else None
    entry = resolved.entry if resolved else getattr(engine, "entry", None)
    path = resolved.path if resolved else getattr(engine, "path", None)
    template = ""
    arch = entry.architecture if entry else ""
    context = entry.context if entry else getattr(engine, "n_ctx", 0)
    if isinstance(path, Path):
        from edgewise.gguf import read_gguf

        info = await loop.run_in_executor(None, read_gguf, path)
        template = info.chat_template or ""
        arch = info.architecture or arch
        context = info.context_length or context
    caps = ["completion"]
    if engine is None or getattr(engine, "supports_embeddings", False):
        caps.append("embedding")
    quant = (
        resolved.quant
        if resolved
        else (loaded.resolved.quant if loaded and loaded.resolved else None)
    )
    info_out: dict[str, Any] = {"general.architecture": arch}
    if entry is not None:
        info_out["general.parameter_count"] = entry.params
        info_out["general.license"] = entry.license
    if arch and context:
        info_out[f"{arch}.context_length"] = context
    return {
        "modelfile": f"# served by edgewise\nFROM {key}\n",
        "parameters": "\n".join(f"{k} {v}" for k, v in DEFAULTS.items()),
        "template": template,
        "details": details(entry, quant, engine),
        "model_info": info_out,
        "capabilities": caps,
        "license": entry.license_note if entry else "",
        "modified_at": _now(),
    }


def _final_fields(out_chunk: Chunk, stream: ChunkStream) -> dict[str, Any]:
    u = out_chunk.usage
    t = out_chunk.timings
    total_ns = int((time.perf_counter() - stream.t0) * 1e9)
    return {
        "done": True,
        "done_reason": out_chunk.finish_reason or "stop",
        "total_duration": total_ns,
        "load_duration": int(stream.load_ms * 1e6),
        "prompt_eval_count": u.prompt_tokens if u else 0,
        "prompt_eval_duration": int((t.prompt_ms if t else 0) * 1e6),
        "eval_count": u.completion_tokens if u else 0,
        "eval_duration": int((t.decode_ms if t else 0) * 1e6),
    }


async def _empty_request(
    st: ServerState, model: str, keep_alive: float | None | str, chat: bool
) -> dict[str, Any]:
    """Ollama's load / unload call: a request with nothing to generate."""
    if keep_alive == 0.0:
        await st.pool.unload(model)
        reason = "unload"
        key, _ = await st.pool.resolve_name(model)
    else:
        key = await st.pool.load(model, keep_alive)
        reason = "load"
    out: dict[str, Any] = {"model": key, "created_at": _now(), "done": True, "done_reason": reason}
    if chat:
        out["message"] = {"role": "assistant", "content": ""}
    else:
        out["response"] = ""
    return out


async def _respond(
    st: ServerState,
    request: Request,
    gen: Generation,
    stream_mode: bool,
    chat: bool,
) -> Any:
    gen.validate()
    stream = ChunkStream(st, gen, request)

    def piece(text: str) -> dict[str, Any]:
        if chat:
            return {"message": {"role": "assistant", "content": text}}
        return {"response": text}

    if not stream_mode:
        out = await stream.collect()
        return {
            "model": stream.model_name,
            "created_at": _now(),
            **piece(out.text),
            **_final_fields(out.last, stream),
        }
    first, rest = await stream.first()

    def line(data: dict[str, Any]) -> str:
        return dumps({"model": stream.model_name, "created_at": _now(), **data}) + "\n"

    def each(chunk: Chunk) -> Iterator[str]:
        if chunk.finish_reason is None:
            yield line({**piece(chunk.text), "done": False})
            return
        if chunk.text:
            yield line({**piece(chunk.text), "done": False})
        yield line({**piece(""), **_final_fields(chunk, stream)})

    lines = drive(first, rest, request.url.path, each=each, error=lambda body: dumps(body) + "\n")
    return ClosingStreamingResponse(lines, media_type="application/x-ndjson")


@router.post("/api/chat", summary="Chat (streams NDJSON unless stream is false)")
async def chat(body: ChatRequest, request: Request) -> Any:
    st = state(request)
    keep = keep_alive_of(body.keep_alive)
    if body.tools:
        raise CapabilityError("tools are not supported")
    if not body.messages:
        return await _empty_request(st, body.model, keep, chat=True)
    msgs = []
    for i, m in enumerate(body.messages):
        if m.images:
            raise CapabilityError(f"messages[{i}]: images are not supported")
        if m.role == "tool":
            raise CapabilityError(f"messages[{i}]: tool messages are not supported")
        msgs.append(Message(role=m.role, content=m.content))
    gen = Generation(
        model=body.model,
        prompt=msgs,
        options=options_from(body.options),
        schema=_schema(body.format),
        keep_alive=keep,
    )
    return await _respond(st, request, gen, body.stream, chat=True)


@router.post("/api/generate", summary="Generate (streams NDJSON unless stream is false)")
async def generate(body: GenerateRequest, request: Request) -> Any:
    st = state(request)
    keep = keep_alive_of(body.keep_alive)
    if body.images:
        raise CapabilityError("images are not supported")
    if body.suffix:
        raise CapabilityError("suffix (fill-in-the-middle) is not supported")
    if body.template:
        raise CapabilityError("a custom template is not supported; use raw=true")
    if body.context:
        raise CapabilityError("context (token ids of an earlier reply) is not supported")
    if not body.prompt:
        return await _empty_request(st, body.model, keep, chat=False)
    prompt: Any
    if body.raw:  # a fully templated prompt: its special tokens are markup
        prompt = RenderedPrompt(body.prompt)
    else:
        prompt = [Message(role="system", content=body.system)] if body.system else []
        prompt.append(Message(role="user", content=body.prompt))
    gen = Generation(
        model=body.model,
        prompt=prompt,
        options=options_from(body.options),
        schema=_schema(body.format),
        keep_alive=keep,
    )
    return await _respond(st, request, gen, body.stream, chat=False)


@router.post("/api/embed", summary="Embeddings for one text or many")
async def embed(body: EmbedRequest, request: Request) -> dict[str, Any]:
    st = state(request)
    texts = embed_inputs(body.input)
    t0 = time.perf_counter()
    vectors, n_tokens, name = await embed_texts(
        st, request, body.model, texts, keep_alive_of(body.keep_alive)
    )
    if body.dimensions is not None and vectors and body.dimensions != len(vectors[0]):
        raise CapabilityError(f"{name} makes {len(vectors[0])}-dimensional embeddings")
    return {
        "model": name,
        "embeddings": vectors,
        "total_duration": int((time.perf_counter() - t0) * 1e9),
        "load_duration": 0,
        "prompt_eval_count": n_tokens,
    }


@router.post("/api/embeddings", summary="Embedding of one prompt (older Ollama route)")
async def embeddings_legacy(body: LegacyEmbeddingsRequest, request: Request) -> dict[str, Any]:
    st = state(request)
    texts = embed_inputs(body.prompt)
    vectors, _, _ = await embed_texts(
        st, request, body.model, texts, keep_alive_of(body.keep_alive)
    )
    return {"embedding": vectors[0]}
