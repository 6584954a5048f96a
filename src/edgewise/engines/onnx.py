"""ONNX models on CPU through ONNX Runtime GenAI (a folder made by ``edgewise export onnx``).

This is the only module that imports ``onnxruntime_genai``, lazily: without the ``onnx`` extra
the rest of edgewise works and opening an ONNX folder says what to install.

- One generator holds the KV cache of the last evaluated tokens. A new prompt rewinds it to the
  longest common prefix (``Generator.rewind_to``) and appends only the rest, so a classifier's
  prompt prefix is evaluated once and every item after it costs only its own tokens.
- The model's logits output has a row per appended token, so continuation scoring reads the
  rows it needs from one append per item (and one per multi-token continuation). Prompts are
  appended in chunks of ``CHUNK`` tokens to bound that logits buffer.
- Generation samples in numpy from the logits rows with llama.cpp's order (repeat penalty,
  top-k, top-p, temperature), so options mean the same as on the GGUF engine and the cached
  generator is reused across calls.
- Grammar-constrained generation (``schema=``) uses onnxruntime-genai's guidance
  (llguidance) with the JSON Schema itself: the schema is first checked against edgewise's
  supported subset (``compile_schema``), objects without ``additionalProperties`` are closed
  (as the GBNF grammar closes them) and the output is compact. It needs a fresh generator
  per call, since guidance is fixed when a generator is made.
- No embeddings: ``embed`` raises CapabilityError (use a GGUF embedding model).

Argument checks, prompt tokenization and the closed-engine check are ``EngineBase``'s.

onnxruntime-genai errors are translated here into edgewise errors.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgewise.config import Settings
from edgewise.engines.base import (
    EngineBase,
    GenerationRequest,
    ScoreRequest,
    StopMatcher,
    check_sizes,
    context_size,
)
from edgewise.engines.logits import PENALTY_WINDOW, log_softmax, sample_token
from edgewise.errors import (
    CapabilityError,
    ContextLengthExceededError,
    EdgewiseError,
    MissingExtraError,
    ModelLoadError,
    UnsupportedSchemaError,
    check_unicode,
)
from edgewise.types import (
    Chunk,
    ContinuationScore,
    GenerationOptions,
    Timings,
    Usage,
)

__all__ = [
    "OnnxEngine",
    "closed_schema",
    "guidance_schema",
    "is_onnx_model",
    "plain_pieces",
    "sample_token",
]

CHUNK = 256  # tokens per append: the logits buffer is CHUNK x vocabulary floats
CONFIG_FILE = "genai_config.json"
METADATA_FILE = "edgewise.json"
# Special tokens that end a turn in the common chat formats (llama.cpp treats them as EOG too).
EOG_TEXTS = {
    "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>",
    "<end_of_turn>", "<|end|>", "</s>",
}  # fmt: skip
GUIDANCE_FORMAT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}

_og: Any = None


def _lib() -> Any:
    """Import onnxruntime_genai once; MissingExtraError with the install hint if absent."""
    global _og
    if _og is None:
        try:
            import onnxruntime_genai
        except ImportError:
            raise MissingExtraError("onnx", "onnxruntime-genai", "the ONNX engine") from None
        _og = onnxruntime_genai
    return _og


def is_onnx_model(path: str | Path) -> bool:
    """Whether ``path`` is an ONNX Runtime GenAI folder (or its genai_config.json)."""
    try:
        p = Path(path).expanduser()
        return (p / CONFIG_FILE).is_file() or (p.name == CONFIG_FILE and p.is_file())
    except (OSError, ValueError):
        return False


def plain_pieces(text: str, specials: Sequence[str]) -> list[str]:
    """Cut ``text`` inside every special-token string, after its first character.

    Tokenized piece by piece, no piece can turn into a special token, and the cut falls where
    a byte-level BPE splits anyway (between "<" and "|" of "<|im_end|>"), so the tokens match
    llama.cpp's for such text with special parsing off.
    """
    names = sorted({s for s in specials if len(s) > 1}, key=len, reverse=True)
    if not text or not any(s in text for s in names):
        return [text] if text else []
    pattern = re.compile("|".join(re.escape(s) for s in names))
    cuts = [m.start() + 1 for m in pattern.finditer(text)]
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def closed_schema(schema: Any) -> Any:
    """A copy of ``schema`` where objects with ``properties`` and no ``additionalProperties``
    allow no other keys (JSON Schema's default allows them; edgewise's grammar does not)."""
    if isinstance(schema, dict):
        out = {k: closed_schema(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed_schema(v) for v in schema]
    return schema


def guidance_schema(schema: dict[str, Any]) -> str:
    """The JSON text handed to onnxruntime-genai's guidance for a (checked) JSON Schema."""
    data = closed_schema(schema)
    data["x-guidance"] = dict(GUIDANCE_FORMAT)
    return json.dumps(data)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(str(path), f"unreadable JSON ({exc})") from None
    return data if isinstance(data, dict) else {}


def _token_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("content") or "")
    return str(value or "")


class OnnxEngine(EngineBase):
    """An ONNX Runtime GenAI model folder. Use ``edgewise.load(path)``."""

    supports_grammar: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = False
    supports_scoring: ClassVar[bool] = True
    kind: ClassVar[str] = "ONNX"

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int | None = None,
        threads: int | None = None,
        chat: bool | None = None,
        settings: Settings | None = None,
    ) -> None:
        check_sizes(n_ctx=n_ctx, threads=threads)
        settings = settings or Settings.from_env()
        folder = Path(path).expanduser()
        if folder.name == CONFIG_FILE:
            folder = folder.parent
        if not (folder / CONFIG_FILE).is_file():
            raise ModelLoadError(str(folder), f"no {CONFIG_FILE}: not an ONNX Runtime GenAI folder")
        self.path = folder
        self.meta = _read_json(folder / METADATA_FILE)
        genai = _read_json(folder / CONFIG_FILE)
        self.name = name or str(self.meta.get("source") or folder.name)
        self.threads = threads or settings.threads
        og = _lib()
        self._og = og
        self._lock = threading.RLock()
        try:
            config = og.Config(str(folder))
            config.overlay(
                json.dumps(
                    {
                        "model": {
                            "decoder": {"session_options": {"intra_op_num_threads": self.threads}}
                        }
                    }
                )
            )
            self._model = og.Model(config)
            self._tok = og.Tokenizer(self._model)
        except Exception as exc:  # onnxruntime-genai raises RuntimeError for everything
            raise ModelLoadError(
                str(folder), f"onnxruntime-genai could not load it ({exc})"
            ) from exc
        model_cfg = genai.get("model", {}) if isinstance(genai.get("model"), dict) else {}
        self.n_ctx_train = int(model_cfg.get("context_length") or 0)
        self.n_vocab = int(model_cfg.get("vocab_size") or 0)
        self.n_ctx = context_size(n_ctx, settings, self.n_ctx_train)

        tok_cfg = _read_json(folder / "tokenizer_config.json")
        self._bos_text = _token_text(tok_cfg.get("bos_token"))
        self._eos_text = _token_text(tok_cfg.get("eos_token"))
        self.add_bos = bool(self.meta.get("add_bos", tok_cfg.get("add_bos_token", False)))
        self._bos_id = model_cfg.get("bos_token_id")
        template = self.meta.get("chat_template")
        if template is None and (folder / "chat_template.jinja").is_file():
            template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
        if template is None:
            template = tok_cfg.get("chat_template")
        template = template if isinstance(template, str) and template.strip() else None
        self._use_chat_template(template, instruct=bool(self.meta.get("instruct", True)), chat=chat)

        added = _read_json(folder / "tokenizer.json").get("added_tokens") or []
        self._specials = [
            str(t["content"]) for t in added if isinstance(t, dict) and t.get("special")
        ]
        eos = model_cfg.get("eos_token_id")
        eog = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        eog |= {
            int(t["id"]) for t in added if isinstance(t, dict) and t.get("content") in EOG_TEXTS
        }
        self._eog = sorted(int(t) for t in eog)
        self._gen: Any = None
        self._tokens: list[int] = []  # what the generator's KV cache holds
        self.stats = {"prompt_tokens": 0, "cached_tokens": 0, "appends": 0}

    # ------------------------------------------------------------------ construction
    def close(self) -> None:
        with self._lock:
            self._gen = None
            self._tokens = []
            self._tok = None
            self._model = None
            self._closed = True

    def __repr__(self) -> str:
        return f"OnnxEngine({self.name!r}, n_ctx={self.n_ctx}, threads={self.threads})"

    # ------------------------------------------------------------------ tokens & text
    def _encode(self, text: str) -> list[int]:
        if not text:
            return []
        self._check_open()
        return [int(t) for t in self._tok.encode(check_unicode(text))]

    def _encode_plain(self, text: str) -> list[int]:
        """Tokens of ``text`` with special-token strings kept as plain text (see
        ``plain_pieces``): onnxruntime-genai's tokenizer always parses special tokens."""
        out: list[int] = []
        for piece in plain_pieces(text, self._specials):
            out += self._encode(piece)
        return out

    def _tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        tokens = self._encode(text) if special else self._encode_plain(text)
        if add_bos and isinstance(self._bos_id, int):
            return [self._bos_id, *tokens]
        return tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens``; special tokens are left out (as llama.cpp's engine does)."""
        if not tokens:
            return ""
        self._check_open()
        return str(self._tok.decode(np.asarray(list(tokens), dtype=np.int32)))

    # ------------------------------------------------------------------ the cached generator
    def _generator(self, max_length: int, **search: Any) -> Any:
        og = self._og
        params = og.GeneratorParams(self._model)
        params.set_search_options(max_length=max_length, batch_size=1, **search)
        return params

    def _evaluate(self, tokens: Sequence[int], need_from: int) -> tuple[np.ndarray, int]:
        """Bring the cached generator to hold ``tokens``; return logits rows from ``need_from``.

        Only what differs from the cached tokens is appended, but never less than from
        ``need_from``, so the rows of positions ``need_from..len(tokens)-1`` are returned
        (row ``i`` predicts token ``i + 1``), along with the number of reused tokens.
        """
        self._check_open()
        n = len(tokens)
        if n >= self.n_ctx:
            raise ContextLengthExceededError(n, self.n_ctx)
        if not 0 <= need_from < n:
            raise EdgewiseError("nothing to evaluate")
        common = 0
        limit = min(len(self._tokens), need_from)
        while common < limit and self._tokens[common] == tokens[common]:
            common += 1
        try:
            if self._gen is None:
                self._gen = self._og.Generator(self._model, self._generator(self.n_ctx))
                self._tokens = []
            if common < len(self._tokens):
                self._gen.rewind_to(common)
                del self._tokens[common:]
            rows: list[np.ndarray] = []
            pos = common
            while pos < n:
                chunk = [int(t) for t in tokens[pos : pos + CHUNK]]
                try:
                    self._gen.append_tokens(np.asarray(chunk, dtype=np.int32))
                except BaseException:
                    self._reset()
                    raise
                self._tokens.extend(chunk)
                self.stats["appends"] += 1
                end = pos + len(chunk)
                if end > need_from:
                    logits = self._gen.get_output("logits")[0]
                    first = max(need_from - pos, 0)
                    rows.append(np.array(logits[first:], dtype=np.float32))
                pos = end
        except EdgewiseError:
            raise
        except RuntimeError as exc:
            raise EdgewiseError(f"onnxruntime-genai failed to evaluate the prompt: {exc}") from exc
        self.stats["prompt_tokens"] += n
        self.stats["cached_tokens"] += common
        return np.concatenate(rows, axis=0), common

    def _step(self, token: int) -> np.ndarray:
        """Append one generated token to the cached generator; its logits row."""
        if len(self._tokens) + 1 >= self.n_ctx:
            raise ContextLengthExceededError(len(self._tokens) + 1, self.n_ctx)
        try:
            self._gen.append_tokens(np.asarray([token], dtype=np.int32))
        except RuntimeError as exc:
            self._reset()
            raise EdgewiseError(f"onnxruntime-genai failed while generating: {exc}") from exc
        self._tokens.append(token)
        return np.array(self._gen.get_output("logits")[0, -1], dtype=np.float32)

    def _reset(self) -> None:
        self._gen = None
        self._tokens = []

    # ------------------------------------------------------------------ generation
    def _start_stream(self, request: GenerationRequest) -> Iterator[Chunk]:
        if request.compiled is not None:
            return self._stream_guided(
                request.tokens, request.options, guidance_schema(request.compiled.schema)
            )
        return self._stream(request.tokens, request.options)

    def _stream(self, tokens: list[int], opts: GenerationOptions) -> Iterator[Chunk]:
        with self._lock:
            t0 = time.perf_counter()
            rows, cached = self._evaluate(tokens, len(tokens) - 1)
            logits = rows[-1]
            t1 = time.perf_counter()
            rng = np.random.default_rng(opts.seed)
            banned = self._eog if opts.ignore_eos else ()
            decoder = self._tok.create_stream()
            stops = StopMatcher(opts.stop)
            budget = min(opts.max_tokens, self.n_ctx - len(tokens))
            generated: list[int] = []
            finish = "length"
            while len(generated) < budget:
                tok = sample_token(logits, opts, rng, generated[-PENALTY_WINDOW:], banned)
                if tok in self._eog and not opts.ignore_eos:
                    finish = "stop"
                    break
                generated.append(tok)
                text = stops.feed(decoder.decode(tok))
                if text:
                    yield Chunk(text=text)
                if stops.stopped:
                    finish = "stop"
                    break
                if len(generated) >= budget:
                    break
                logits = self._step(tok)
            tail = stops.flush() if not stops.stopped else ""
            t2 = time.perf_counter()
        yield Chunk(
            text=tail,
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(
                prompt_tokens=len(tokens), completion_tokens=len(generated), cached_tokens=cached
            ),
            timings=Timings(prompt_ms=(t1 - t0) * 1000, decode_ms=(t2 - t1) * 1000),
        )

    def _stream_guided(
        self, tokens: list[int], opts: GenerationOptions, guidance: str
    ) -> Iterator[Chunk]:
        og = self._og
        budget = min(opts.max_tokens, self.n_ctx - len(tokens))
        search: dict[str, Any] = {"do_sample": opts.temperature > 0.0}
        if opts.temperature > 0.0:
            search.update(
                temperature=opts.temperature,
                top_k=opts.top_k if opts.top_k > 0 else max(self.n_vocab, 1),
                top_p=opts.top_p,
            )
            if opts.seed is not None:
                search["random_seed"] = opts.seed
        if opts.repeat_penalty != 1.0:
            search["repetition_penalty"] = opts.repeat_penalty
        with self._lock:
            t0 = time.perf_counter()
            try:
                params = self._generator(len(tokens) + budget + 1, **search)
                params.set_guidance("json_schema", guidance)
                gen = og.Generator(self._model, params)
            except RuntimeError as exc:
                raise UnsupportedSchemaError(
                    f"onnxruntime-genai's guidance refused it ({exc})"
                ) from None
            except AttributeError:
                raise CapabilityError(
                    f"{self.name}: this onnxruntime-genai has no guidance (constrained decoding)"
                ) from None
            try:
                for start in range(0, len(tokens), CHUNK):
                    gen.append_tokens(np.asarray(tokens[start : start + CHUNK], dtype=np.int32))
                t1 = time.perf_counter()
                decoder = self._tok.create_stream()
                stops = StopMatcher(opts.stop)
                n_gen = 0
                finish = "length"
                while n_gen < budget and not gen.is_done():
                    gen.generate_next_token()
                    tok = int(gen.get_next_tokens()[0])
                    if tok in self._eog:
                        finish = "stop"
                        break
                    n_gen += 1
                    text = stops.feed(decoder.decode(tok))
                    if text:
                        yield Chunk(text=text)
                    if stops.stopped:
                        finish = "stop"
                        break
            except RuntimeError as exc:
                raise EdgewiseError(f"onnxruntime-genai failed while generating: {exc}") from exc
            tail = stops.flush() if not stops.stopped else ""
            t2 = time.perf_counter()
        yield Chunk(
            text=tail,
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(prompt_tokens=len(tokens), completion_tokens=n_gen),
            timings=Timings(prompt_ms=(t1 - t0) * 1000, decode_ms=(t2 - t1) * 1000),
        )

    # ------------------------------------------------------------------ scoring
    def _score(self, request: ScoreRequest, *, persist: bool) -> list[list[ContinuationScore]]:
        """The prefix is evaluated once and stays cached; each item appends only its own
        tokens, and each multi-token continuation its tokens but the last. ``persist`` is
        accepted for the engine interface; this engine keeps no prefixes on disk."""
        prefix_tokens, names, conts = request.prefix, request.names, request.continuations
        results: list[list[ContinuationScore]] = []
        with self._lock:
            for it in request.items:
                seq = prefix_tokens + it
                rows, _ = self._evaluate(seq, len(seq) - 1)
                first = log_softmax(rows[-1])
                row: list[ContinuationScore] = []
                for text, c in zip(names, conts):
                    lps = [float(first[c[0]])]
                    if len(c) > 1:
                        more, _ = self._evaluate(seq + c[:-1], len(seq))
                        lps += [float(log_softmax(more[t - 1])[c[t]]) for t in range(1, len(c))]
                    row.append(
                        ContinuationScore(text=text, logprob=float(sum(lps)), token_logprobs=lps)
                    )
                results.append(row)
        return results
