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

from edgewise import chat_template
from edgewise.config import Settings
from edgewise.engines.base import (
    Prompt,
    RenderedPrompt,
    StopMatcher,
    as_messages,
    check_prompt,
    collect,
    message_tokens,
)
from edgewise.errors import (
    CapabilityError,
    ContextLengthExceededError,
    EdgewiseError,
    MissingExtraError,
    ModelLoadError,
    UnsupportedSchemaError,
    check_unicode,
)
from edgewise.structured import compile_schema
from edgewise.types import (
    Chunk,
    Completion,
    ContinuationScore,
    GenerationOptions,
    Message,
    Timings,
    Usage,
)

DEFAULT_N_CTX = 4096
CHUNK = 256  # tokens per append: the logits buffer is CHUNK x vocabulary floats
PENALTY_WINDOW = 64  # recent generated tokens the repeat penalty looks at (as llama.cpp's)
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


def log_softmax(row: np.ndarray) -> np.ndarray:
    r = row.astype(np.float64)
    m = float(r.max())
    return r - (m + float(np.log(np.exp(r - m).sum())))


def sample_token(
    logits: np.ndarray,
    opts: GenerationOptions,
    rng: np.random.Generator,
    recent: Sequence[int] = (),
    banned: Sequence[int] = (),
) -> int:
    """Pick the next token the way llama.cpp's sampler chain does for the same options.

    Repeat penalty on ``recent`` tokens, ``banned`` tokens removed (``ignore_eos``), then
    greedy for temperature 0; otherwise top-k, top-p (on the untempered distribution, at
    least one token kept), temperature, and a draw from ``rng``.
    """
    x = logits.astype(np.float64, copy=True)
    if opts.repeat_penalty != 1.0 and len(recent):
        ids = np.unique(np.asarray(recent, dtype=np.int64))
        vals = x[ids]
        x[ids] = np.where(vals > 0, vals / opts.repeat_penalty, vals * opts.repeat_penalty)
    if len(banned):
        x[np.asarray(banned, dtype=np.int64)] = -np.inf
    if opts.temperature == 0.0:
        return int(np.argmax(x))
    cand = np.arange(x.size)
    if 0 < opts.top_k < x.size:
        cand = np.argpartition(-x, opts.top_k - 1)[: opts.top_k]
    cand = cand[np.argsort(-x[cand], kind="stable")]
    vals = x[cand]
    if opts.top_p < 1.0:
        p = np.exp(vals - vals[0])
        p /= p.sum()
        keep = int(np.searchsorted(np.cumsum(p), opts.top_p) + 1)
        cand, vals = cand[:keep], vals[:keep]
    z = (vals - vals[0]) / opts.temperature
    p = np.exp(z)
    p /= p.sum()
    return int(cand[rng.choice(len(cand), p=p)])


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


class OnnxEngine:
    """An ONNX Runtime GenAI model folder. Use ``edgewise.load(path)``."""

    supports_grammar: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = False
    supports_scoring: ClassVar[bool] = True

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
        want = n_ctx or settings.n_ctx or min(self.n_ctx_train or DEFAULT_N_CTX, DEFAULT_N_CTX)
        self.n_ctx = min(want, self.n_ctx_train) if self.n_ctx_train > 0 else want

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
        instruct = bool(self.meta.get("instruct", True))
        self.chat_mode = bool(template) and instruct if chat is None else bool(chat and template)
        self.template = template if self.chat_mode else None

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

    def __enter__(self) -> OnnxEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OnnxEngine({self.name!r}, n_ctx={self.n_ctx}, threads={self.threads})"

    def _need_open(self) -> None:
        if self._model is None:
            raise EdgewiseError(f"{self.name}: the engine is closed")

    # ------------------------------------------------------------------ tokens & text
    def _encode(self, text: str) -> list[int]:
        if not text:
            return []
        self._need_open()
        return [int(t) for t in self._tok.encode(check_unicode(text))]

    def _encode_plain(self, text: str) -> list[int]:
        """Tokens of ``text`` with special-token strings kept as plain text (see
        ``plain_pieces``): onnxruntime-genai's tokenizer always parses special tokens."""
        out: list[int] = []
        for piece in plain_pieces(text, self._specials):
            out += self._encode(piece)
        return out

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Tokens of ``text`` as a continuation (no BOS; special tokens parsed only if asked)."""
        return self._encode(text) if special else self._encode_plain(text)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens``; special tokens are left out (as llama.cpp's engine does)."""
        if not tokens:
            return ""
        self._need_open()
        return str(self._tok.decode(np.asarray(list(tokens), dtype=np.int32)))

    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        return chat_template.render(
            self.template,
            as_messages(messages),
            bos_token=self._bos_text,
            eos_token=self._eos_text,
            add_generation_prompt=add_generation_prompt,
        )

    def _with_bos(self, tokens: list[int], add: bool) -> list[int]:
        if add and isinstance(self._bos_id, int):
            return [self._bos_id, *tokens]
        return tokens

    def prompt_tokens(self, prompt: Prompt, *, rendered: bool = False) -> list[int]:
        """Tokens the model sees for ``prompt`` (a raw string, or messages rendered).

        ``rendered=True`` (or a ``RenderedPrompt``) marks a string that is already chat-template
        output (or a piece of
        it that starts the prompt): its special tokens are parsed and BOS is not doubled.
        In messages, only the template's text is read for special tokens (``message_tokens``).
        """
        rendered = rendered or isinstance(prompt, RenderedPrompt)
        if isinstance(prompt, str) and not rendered:
            return self._with_bos(self._encode_plain(prompt), self.add_bos)
        if isinstance(prompt, str):
            return self._rendered_tokens(prompt)
        return message_tokens(self, as_messages(prompt), self._rendered_tokens)

    def _rendered_tokens(self, text: str) -> list[int]:
        add = self.add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self._with_bos(self._encode(text), add)

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
        self._need_open()
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
    def stream(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Iterator[Chunk]:
        """Yield text chunks as they are generated; the last chunk carries usage/timings."""
        opts = GenerationOptions.parse(options)
        check_prompt(prompt)
        self._need_open()
        tokens = self.prompt_tokens(prompt)
        if len(tokens) >= self.n_ctx:
            raise ContextLengthExceededError(len(tokens), self.n_ctx)
        if schema is not None:
            compiled = compile_schema(schema)  # unsupported schemas fail before any work
            return self._stream_guided(tokens, opts, guidance_schema(compiled.schema))
        return self._stream(tokens, opts)

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

    def generate(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Completion:
        return collect(self.stream(prompt, options, schema=schema), self.name)

    # ------------------------------------------------------------------ scoring
    def score(self, prompt: Prompt, continuations: Sequence[str]) -> list[ContinuationScore]:
        """Log-probabilities of each continuation right after ``prompt`` (evaluated once)."""
        check_prompt(prompt)
        return self.score_batch(prompt, [""], continuations)[0]

    def score_batch(
        self,
        prefix: Prompt | Sequence[int],
        items: Sequence[str | Sequence[int]],
        continuations: Sequence[str | Sequence[int]],
        *,
        persist: bool = False,
    ) -> list[list[ContinuationScore]]:
        """Score ``continuations`` after ``prefix + item`` for every item.

        ``prefix``, each item and each continuation may be given as token ids (from
        ``prompt_tokens`` and ``tokenize``). The prefix is evaluated once and stays cached; each item appends only
        its own tokens, and each multi-token continuation its tokens but the last. ``persist``
        is accepted for the engine interface; this engine keeps no prefixes on disk.
        """
        self._need_open()
        if not continuations:
            raise EdgewiseError("no continuations to score")
        conts = [
            self.tokenize(c) if isinstance(c, str) else [int(t) for t in c] for c in continuations
        ]
        for text, toks in zip(continuations, conts):
            if not toks:
                raise EdgewiseError(f"continuation {text!r} has no tokens")
        names = [c if isinstance(c, str) else self.detokenize(c) for c in continuations]
        if isinstance(prefix, str):
            prefix_tokens = self.prompt_tokens(prefix) if prefix else []
        elif prefix and isinstance(prefix[0], int):
            prefix_tokens = [int(t) for t in prefix]  # type: ignore[arg-type]
        else:
            prefix_tokens = self.prompt_tokens(prefix) if prefix else []  # type: ignore[arg-type]
        item_tokens = [
            (self._encode(t) if t else []) if isinstance(t, str) else [int(x) for x in t]
            for t in items
        ]
        if any(not it for it in item_tokens) and not prefix_tokens:
            raise EdgewiseError("nothing to score after: prompt and item are both empty")
        results: list[list[ContinuationScore]] = []
        with self._lock:
            for it in item_tokens:
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

    # ------------------------------------------------------------------ embeddings
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise CapabilityError(
            f"{self.name}: the ONNX engine has no embeddings; use a GGUF model for embed()"
        )
