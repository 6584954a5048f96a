"""GGUF models on CPU through llama.cpp (llama-cpp-python's low-level bindings).

This is the only module that imports ``llama_cpp``. It drives llama.cpp's C API directly
instead of ``llama_cpp.Llama``:

- Prefix reuse without copying state: the KV cache holds several sequences ("slots"). A new
  prompt goes to the slot sharing the longest token prefix with it; the slot is rewound to
  that prefix (``llama_memory_seq_rm``) and only the new suffix is evaluated. Several
  prompts used in alternation (two system prompts on one server) stay warm at once.
  ``Llama.save_state()/load_state()`` copy the whole logits matrix and are never used.
- Continuation scoring evaluates the shared prompt once. Candidate continuations and batch
  items become extra sequences that share the prompt's KV cells (``llama_memory_seq_cp``),
  evaluated together in as few ``llama_decode`` calls as fit in a batch.
- A classifier's prompt prefix (``score_batch(..., persist=True)``) is also kept on disk
  (``prefix_store``): a new process loads its KV cells (``llama_state_seq_set_data``, one
  sequence, no logits) instead of evaluating it again.
- Sampling uses llama.cpp's sampler chain (grammar, penalties, top-k/top-p, temperature).
- Embeddings use a second context on the same (memory-mapped) weights, created on first use.

llama.cpp errors and refusals are translated here, once, into edgewise errors.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgewise import chat_template
from edgewise.catalog import ModelEntry, resolve
from edgewise.config import Settings
from edgewise.engines.base import (
    Prompt,
    RenderedPrompt,
    StopMatcher,
    as_messages,
    check_prompt,
    check_texts,
    collect,
    message_tokens,
)
from edgewise.engines.prefix_store import MIN_TOKENS as PERSIST_MIN_TOKENS
from edgewise.engines.prefix_store import PrefixStore, file_id
from edgewise.errors import (
    CapabilityError,
    ContextLengthExceededError,
    EdgewiseError,
    InvalidOptionsError,
    ModelLoadError,
    UnsupportedSchemaError,
    check_unicode,
)
from edgewise.gguf import GGUFInfo, read_gguf
from edgewise.structured import compile_schema
from edgewise.types import (
    Chunk,
    Completion,
    ContinuationScore,
    GenerationOptions,
    Message,
    Timings,
    TokenLogprob,
    TopLogprob,
    Usage,
)

log = logging.getLogger("edgewise")

DEFAULT_N_CTX = 4096
DEFAULT_N_BATCH = 512
CACHE_SLOTS = 4  # warm prompt prefixes kept in the KV cache
MIN_REUSE = 32  # shared tokens that make a prefix worth keeping warm
GHOSTS = 8  # token lists of recently evicted prompts, to notice recurring prefixes
SCRATCH_SEQS = 124  # sequences for candidates / batch items sharing a prefix (77+ labels)
EMBED_SEQS = 32
# ggml types whose matrices llama.cpp repacks into interleaved AVX2 kernels on x86:
# Q4_0, Q4_K, IQ4_NL
REPACKED_TYPES = {2, 12, 20}
MAX_TOP_LOGPROBS = 20
ENCODER_ARCHS = {
    "bert",
    "nomic-bert",
    "nomic-bert-moe",
    "jina-bert-v2",
    "jina-bert-v3",
    "t5encoder",
    "modern-bert",
    "neo-bert",
}

_llama: Any = None
_log_callback: Any = None


def _lib() -> Any:
    """Import llama_cpp once, silencing its C logging unless EDGEWISE_LLAMA_LOG is set."""
    global _llama, _log_callback
    if _llama is None:
        import os

        import llama_cpp
        import llama_cpp._internals  # noqa: F401  (LlamaModel / LlamaContext wrappers)

        if not os.environ.get("EDGEWISE_LLAMA_LOG"):

            @llama_cpp.llama_log_callback
            def _quiet(level: int, text: bytes, user_data: Any) -> None:
                if level == 3:  # GGML_LOG_LEVEL_ERROR
                    log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

            _log_callback = _quiet  # keep a reference: C holds only the pointer
            llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _llama = llama_cpp
    return _llama


_PROBE = """
import ctypes, sys
import llama_cpp
from llama_cpp._internals import LlamaModel, LlamaContext
quiet = llama_cpp.llama_log_callback(lambda *a: None)  # kept alive: C holds only the pointer
llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))
mp = llama_cpp.llama_model_default_params()
m = LlamaModel(path_model=sys.argv[1], params=mp, verbose=False)
cp = llama_cpp.llama_context_default_params(); cp.n_ctx = 64; cp.n_batch = 64; cp.n_ubatch = 64
c = LlamaContext(model=m, params=cp, verbose=False)
toks = (llama_cpp.llama_token * 8)(*range(10, 18))
sys.exit(llama_cpp.llama_decode(c.ctx, llama_cpp.llama_batch_get_one(toks, 8)))
"""


def _library_file(pattern: str) -> Path | None:
    """llama-cpp-python's shared library matching ``pattern`` (the file, not a symlink)."""
    import llama_cpp

    libs = sorted(Path(llama_cpp.__file__).parent.glob(f"lib/{pattern}"))
    return next((p for p in libs if not p.is_symlink()), None)


def _library_id() -> str:
    """The llama.cpp build in use, for cache keys."""
    lib = _library_file("libllama*.so*")
    return file_id(lib) if lib is not None else str(getattr(_lib(), "__version__", "?"))


def extra_buffers_safe() -> bool:
    """Whether llama.cpp's extra weight buffers (repacking, AMX) run on this CPU.

    A CPU can advertise AMX that the (virtual) machine does not let a process use; llama.cpp
    then dies with SIGILL on the first matrix multiply. Where the CPU advertises AMX and the
    library was built with AMX kernels, a throw-away subprocess tries once and the verdict is
    cached per library build. ``EDGEWISE_EXTRA_BUFFERS=0|1`` overrides.
    """
    import hashlib
    import os
    import subprocess
    import sys
    import tempfile

    forced = os.environ.get("EDGEWISE_EXTRA_BUFFERS")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        cpu_flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return True
    if "amx_tile" not in cpu_flags:
        return True
    lib = _library_file("libggml-cpu*.so*")
    if lib is None:
        return True
    key = hashlib.sha256(file_id(lib).encode()).hexdigest()[:16]
    verdict = Path(tempfile.gettempdir()) / f"edgewise-extra-buffers-{key}"
    if verdict.exists():  # checked before reading the library: this runs on every load
        return verdict.read_text().strip() == "ok"
    if b"ggml_backend_amx" not in lib.read_bytes():
        verdict.write_text("ok")
        return True
    from edgewise.bundled import smollm2_path

    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(smollm2_path())], capture_output=True, timeout=120
        )
        ok = proc.returncode == 0
    except (OSError, subprocess.TimeoutExpired, EdgewiseError):
        ok = False
    if not ok:
        log.info("this CPU advertises AMX but cannot run it; llama.cpp extra buffers disabled")
    verdict.write_text("ok" if ok else "bad")
    return ok


class _BuftOverride(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


def _repack_buffer_type() -> int | None:
    """llama.cpp's CPU_REPACK weight buffer type, looked up through ggml's registry."""
    try:
        from llama_cpp._ggml import libggml as g
    except Exception:  # pragma: no cover - a build without the ggml bindings
        return None
    vp = ctypes.c_void_p
    g.ggml_backend_dev_by_type.restype, g.ggml_backend_dev_by_type.argtypes = vp, [ctypes.c_int]
    g.ggml_backend_dev_backend_reg.restype, g.ggml_backend_dev_backend_reg.argtypes = vp, [vp]
    g.ggml_backend_reg_get_proc_address.restype = vp
    g.ggml_backend_reg_get_proc_address.argtypes = [vp, ctypes.c_char_p]
    g.ggml_backend_buft_name.restype, g.ggml_backend_buft_name.argtypes = ctypes.c_char_p, [vp]
    dev = g.ggml_backend_dev_by_type(0)  # GGML_BACKEND_DEVICE_TYPE_CPU
    if not dev:
        return None
    fn = g.ggml_backend_reg_get_proc_address(
        g.ggml_backend_dev_backend_reg(dev), b"ggml_backend_dev_get_extra_bufts"
    )
    if not fn:
        return None
    bufts = ctypes.CFUNCTYPE(ctypes.POINTER(vp), vp)(fn)(dev)
    i = 0
    while bufts and bufts[i]:
        if g.ggml_backend_buft_name(bufts[i]) == b"CPU_REPACK":
            return int(bufts[i])
        i += 1
    return None


def repack_overrides(info: GGUFInfo) -> Any:
    """Tensor overrides that put Q4_0, Q4_K and IQ4_NL matrices in llama.cpp's repacked layout.

    Used when the extra buffers as a whole must stay off (see ``extra_buffers_safe``): the
    AMX buffer would crash, but the repacked AVX2 kernels are safe and 1.7-2.3x faster on
    prompts here than the plain layout. Only tensors the repacker accepts are named
    (REPACKED_TYPES, 2-D, rows a multiple of 8, inside a block), so no tensor is left without
    a kernel.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    if " avx2" not in flags:
        return None
    names = [
        t.name
        for t in info.tensors
        if t.ggml_type in REPACKED_TYPES
        and len(t.shape) == 2
        and t.shape[1] % 8 == 0
        and t.name.startswith("blk.")
    ]
    if not names:
        return None
    buft = _repack_buffer_type()
    if buft is None:
        return None
    pattern = "^(" + "|".join(re.escape(n) for n in names) + ")$"
    arr = (_BuftOverride * 2)()
    arr[0].pattern = pattern.encode()
    arr[0].buft = buft
    return arr


def quantize_file(src: Path, dst: Path, ftype: int, threads: int | None = None) -> None:
    """llama.cpp's quantizer: ``src`` (float weights) to ``dst`` as llama_ftype ``ftype``."""
    lib = _lib()
    params = lib.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads or Settings.from_env().threads
    rc = lib.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        raise ModelLoadError(str(src), f"llama.cpp could not quantize it (code {rc})")


def smoke_test(path: Path) -> None:
    """Load ``path`` and decode a few tokens; ModelLoadError if that fails."""
    eng = LlamaCppEngine(path, n_ctx=256)
    try:
        if eng._ctx is not None:
            eng.generate("Hello", {"max_tokens": 2, "temperature": 0.0})
    finally:
        eng.close()


_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class _GrammarSampling:
    """Grammar-constrained sampling that checks the grammar against one token, not the vocab.

    The sampler chain picks a token from the raw logits; only that token is run through the
    grammar. If the grammar rejects it, the whole vocabulary is filtered by the grammar and
    the chain picks again (llama.cpp's common sampler does the same). Inside a JSON string
    nearly every token the model prefers is allowed, and filtering 49k candidates through the
    grammar was the larger part of each constrained step.
    """

    def __init__(self, engine: LlamaCppEngine, schema: Any) -> None:
        self.engine = engine
        self.lib = engine._lib
        self.grammar = engine._grammar(schema)
        self.buf = np.zeros(engine.n_vocab, dtype=_TOKEN_DATA)
        self.ids = np.arange(engine.n_vocab, dtype=np.int32)
        self.one = (self.lib.llama_token_data * 1)()
        self.rejected = 0

    def _candidates(self) -> Any:
        self.buf["id"] = self.ids
        self.buf["logit"] = self.engine._logits_row(-1)
        self.buf["p"] = 0.0
        data = self.buf.ctypes.data_as(ctypes.POINTER(self.lib.llama_token_data))
        return self.lib.llama_token_data_array(data, self.engine.n_vocab, -1, False)

    def sample(self, chain: Any) -> int:
        lib = self.lib
        cur = self._candidates()
        lib.llama_sampler_apply(chain, ctypes.byref(cur))
        tok = int(self.buf["id"][cur.selected])
        self.one[0].id, self.one[0].logit, self.one[0].p = tok, 1.0, 0.0
        single = lib.llama_token_data_array(self.one, 1, -1, False)
        lib.llama_sampler_apply(self.grammar, ctypes.byref(single))
        if self.one[0].logit == float("-inf"):
            self.rejected += 1
            cur = self._candidates()
            lib.llama_sampler_apply(self.grammar, ctypes.byref(cur))
            lib.llama_sampler_apply(chain, ctypes.byref(cur))
            tok = int(self.buf["id"][cur.selected])
        lib.llama_sampler_accept(self.grammar, tok)
        lib.llama_sampler_accept(chain, tok)
        return tok

    def free(self) -> None:
        self.lib.llama_sampler_free(self.grammar)


def log_softmax_at(row: np.ndarray, ids: Sequence[int]) -> list[float]:
    """log P(id) for each id under the distribution of one logits row."""
    m = float(row.max())
    lse = m + float(np.log(np.exp(row - m).sum()))
    return [float(row[i]) - lse for i in ids]


@dataclass
class _Slot:
    seq: int
    tokens: list[int] = field(default_factory=list)
    used: float = 0.0
    hot: bool = False  # reused at least once: worth keeping warm


@dataclass
class _Job:
    """Tokens to evaluate on top of a shared prefix, as one or more sequences."""

    share: int  # number of prefix tokens (from the slot) this job's sequences start with
    tokens: list[int]
    # token index -> {token id: log-probability} for the ids scored from that position (not
    # the whole vocabulary row: a chunk of items would otherwise hold hundreds of 200 KB rows)
    rows: dict[int, dict[int, float]] = field(default_factory=dict)
    same: _Job | None = None  # an identical earlier job whose rows this one takes


def _shared(a: _Job | None, b: _Job) -> int:
    """Leading tokens ``b`` can share with ``a`` (0 unless they start at the same place)."""
    if a is None or a.share != b.share:
        return 0
    n, limit = 0, min(len(a.tokens), len(b.tokens))
    while n < limit and a.tokens[n] == b.tokens[n]:
        n += 1
    return n


class _Batch:
    """A reusable llama_batch filled from Python lists."""

    def __init__(self, lib: Any, n_tokens: int, n_seq_max: int) -> None:
        self.lib = lib
        self.capacity = n_tokens
        self.batch = lib.llama_batch_init(n_tokens, 0, n_seq_max)
        self.n_seq_max = n_seq_max

    def fill(
        self,
        tokens: Sequence[int],
        pos: Sequence[int],
        seqs: Sequence[Sequence[int]],
        logits: Sequence[bool],
    ) -> None:
        b = self.batch
        n = len(tokens)
        b.n_tokens = n
        for i in range(n):
            b.token[i] = tokens[i]
            b.pos[i] = pos[i]
            ids = seqs[i]
            b.n_seq_id[i] = len(ids)
            row = b.seq_id[i]
            for j, s in enumerate(ids):
                row[j] = s
            b.logits[i] = logits[i]

    def free(self) -> None:
        if self.batch is not None:
            self.lib.llama_batch_free(self.batch)
            self.batch = None


class LlamaCppEngine:
    """A GGUF model loaded with llama.cpp. Use ``edgewise.load(name)`` or ``from_name``."""

    supports_grammar: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True
    supports_scoring: ClassVar[bool] = True
    supports_logprobs: ClassVar[bool] = True  # stream(..., logprobs=N)

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        entry: ModelEntry | None = None,
        n_ctx: int | None = None,
        threads: int | None = None,
        n_batch: int = DEFAULT_N_BATCH,
        chat: bool | None = None,
        settings: Settings | None = None,
    ) -> None:
        for option, value in (("n_ctx", n_ctx), ("threads", threads), ("n_batch", n_batch)):
            # llama.cpp takes a negative size as "could not create a context", or as it is
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value <= 0
            ):
                raise InvalidOptionsError(f"{option} must be a positive integer, got {value!r}")
        settings = settings or Settings.from_env()
        self.path = Path(path)
        self.info: GGUFInfo = read_gguf(self.path)  # refuses non-GGUF and truncated files
        self.entry = entry
        self.name = name or self.path.stem
        self.threads = threads or settings.threads
        self._lock = threading.RLock()
        self._stack = ExitStack()
        self._closed = False
        lib = _lib()
        self._lib = lib
        from llama_cpp._internals import LlamaContext, LlamaModel

        mparams = lib.llama_model_default_params()
        mparams.use_mmap = True
        mparams.use_extra_bufts = extra_buffers_safe()
        self._overrides = None if mparams.use_extra_bufts else repack_overrides(self.info)
        if self._overrides is not None:
            mparams.tensor_buft_overrides = ctypes.addressof(self._overrides)
        try:
            self._model = LlamaModel(path_model=str(self.path), params=mparams, verbose=False)
        except ValueError as exc:
            raise ModelLoadError(str(self.path), f"llama.cpp could not load it ({exc})") from exc
        self._stack.callback(self._model.close)
        self._vocab = self._model.vocab
        self.n_vocab = self._model.n_vocab()
        self._eog: list[int] | None = None
        self.n_ctx_train = self._model.n_ctx_train()
        self.encoder_only = self.info.architecture in ENCODER_ARCHS
        self._embed_ctx: Any = None
        self._grammars: dict[str, Any] = {}
        template = self.info.chat_template
        instruct = entry.instruct if entry is not None else True
        self.chat_mode = bool(template) and instruct if chat is None else bool(chat and template)
        self.template = template if self.chat_mode else None
        if not self.chat_mode and not self.encoder_only:
            log.info(
                "%s has no chat template (or is a base model): plain completion mode", self.name
            )
        self._bos_text = (
            self._piece(self._model.token_bos(), special=True)
            if self._model.token_bos() >= 0
            else ""
        )
        self._eos_text = (
            self._piece(self._model.token_eos(), special=True)
            if self._model.token_eos() >= 0
            else ""
        )
        self.add_bos = bool(self._model.add_bos_token())

        want_ctx = n_ctx or settings.n_ctx or min(self.n_ctx_train, DEFAULT_N_CTX)
        self.n_ctx = min(want_ctx, self.n_ctx_train) if self.n_ctx_train > 0 else want_ctx
        self.n_batch = min(n_batch, self.n_ctx)
        # llama.cpp aborts on more sequences than a small context can hold: keep at least two
        # cells per sequence (n_ctx 64 -> 32 sequences)
        self.n_seq_max = min(CACHE_SLOTS + SCRATCH_SEQS, max(CACHE_SLOTS + 1, self.n_ctx // 2))
        self._ctx: Any = None
        if not self.encoder_only:
            cparams = lib.llama_context_default_params()
            cparams.n_ctx = self.n_ctx
            cparams.n_batch = self.n_batch
            cparams.n_ubatch = self.n_batch
            cparams.n_seq_max = self.n_seq_max
            cparams.kv_unified = (
                True  # all sequences share the cells: a copied prefix costs nothing
            )
            cparams.n_threads = self.threads
            cparams.n_threads_batch = self.threads
            # Flash attention skips the masked cells of the other sequences sharing the
            # unified cache (batched items attend to the prefix only) and never materializes
            # the n_kv x n_ubatch score matrix
            cparams.flash_attn_type = (
                lib.LLAMA_FLASH_ATTN_TYPE_ENABLED
                if settings.flash_attn
                else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
            )
            cparams.no_perf = True
            try:
                self._ctx = LlamaContext(model=self._model, params=cparams, verbose=False)
            except ValueError as exc:
                raise ModelLoadError(str(self.path), f"could not create a context ({exc})") from exc
            self._stack.callback(self._ctx.close)
            self._mem = lib.llama_get_memory(self._ctx.ctx)
            self._batch = _Batch(lib, self.n_batch, self.n_seq_max)
            self._stack.callback(self._batch.free)
        self._slots = [_Slot(seq=i) for i in range(CACHE_SLOTS)]
        self._ghosts: list[list[int]] = []
        self._scratch = list(range(CACHE_SLOTS, self.n_seq_max))
        self.stats = {
            "prompt_tokens": 0,
            "cached_tokens": 0,
            "decode_calls": 0,
            "disk_tokens": 0,
            "scored_tokens": 0,  # score_batch items' and continuations' tokens evaluated
        }
        self._store = (
            PrefixStore(
                settings.home / "cache" / "prefixes",
                self.path,
                f"{_library_id()}|flash_attn={settings.flash_attn}",  # V cells' layout differs
            )
            if settings.prefix_cache and self._ctx is not None
            else None
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_name(cls, model: str | None = None, **kwargs: Any) -> LlamaCppEngine:
        """Load by catalog id / alias / registered name / path (default: the default model, see ``edgewise.bundled.default_model``)."""
        resolved = resolve(model)
        return cls(resolved.path, name=resolved.name, entry=resolved.entry, **kwargs)

    def close(self) -> None:
        with self._lock:
            for sampler in self._grammars.values():
                self._lib.llama_sampler_free(sampler)
            self._grammars.clear()
            if self._embed_ctx is not None:
                self._embed_ctx.close()
                self._embed_ctx = None
            self._stack.close()
            self._closed = True

    def _check_open(self) -> None:
        # llama.cpp aborts the process (or reads freed memory) on a freed model or context
        if self._closed:
            raise CapabilityError(
                f"{self.name} is closed: load the model again (edgewise.load) to use it"
            )

    def __enter__(self) -> LlamaCppEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LlamaCppEngine({self.name!r}, n_ctx={self.n_ctx}, threads={self.threads})"

    # ------------------------------------------------------------------ tokens & text
    def _piece(self, token: int, special: bool = False) -> str:
        return self._piece_bytes(token, special).decode("utf-8", "replace")

    def _piece_bytes(self, token: int, special: bool = False) -> bytes:
        self._check_open()
        buf = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def _tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        self._check_open()
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: one line saying where
            check_unicode(text)
            raise
        size = len(data) + 8
        arr = (self._lib.llama_token * size)()
        n = self._lib.llama_tokenize(self._vocab, data, len(data), arr, size, add_bos, special)
        if n < 0:
            size = -n
            arr = (self._lib.llama_token * size)()
            n = self._lib.llama_tokenize(self._vocab, data, len(data), arr, size, add_bos, special)
        return list(arr[:n])

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Tokens of ``text`` as a continuation (no BOS; special tokens parsed only if asked)."""
        return self._tokenize(text, add_bos=False, special=special)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self._piece_bytes(t) for t in tokens).decode("utf-8", "replace")

    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        return chat_template.render(
            self.template,
            as_messages(messages),
            bos_token=self._bos_text,
            eos_token=self._eos_text,
            add_generation_prompt=add_generation_prompt,
        )

    def prompt_tokens(self, prompt: Prompt, *, rendered: bool = False) -> list[int]:
        """Tokens the model sees for ``prompt`` (a raw string, or messages rendered).

        ``rendered=True`` (or a ``RenderedPrompt``) marks a string that is already chat-template
        output (or a piece of
        it that starts the prompt): its special tokens are parsed and BOS is not doubled.
        In messages, only the template's text is read for special tokens (``message_tokens``).
        """
        rendered = rendered or isinstance(prompt, RenderedPrompt)
        if isinstance(prompt, str) and not rendered:
            return self._tokenize(prompt, add_bos=self.add_bos, special=False)
        if isinstance(prompt, str):
            return self._rendered_tokens(prompt)
        return message_tokens(self, as_messages(prompt), self._rendered_tokens)

    def _rendered_tokens(self, text: str) -> list[int]:
        add_bos = self.add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self._tokenize(text, add_bos=add_bos, special=True)

    # ------------------------------------------------------------------ KV cache slots
    def _need_ctx(self) -> None:
        self._check_open()
        if self._ctx is None:
            raise CapabilityError(
                f"{self.name} is an embedding model: it cannot generate or score text"
            )

    def _decode(
        self,
        tokens: Sequence[int],
        pos: Sequence[int],
        seqs: Sequence[Sequence[int]],
        logits: Sequence[bool],
        keep: set[int],
    ) -> None:
        """One llama_decode call; on a full KV cache, evict cold slots and retry."""
        self._batch.fill(tokens, pos, seqs, logits)
        while True:
            rc = self._lib.llama_decode(self._ctx.ctx, self._batch.batch)
            self.stats["decode_calls"] += 1
            if rc == 0:
                return
            if rc == 1 and self._evict(keep):
                self._batch.fill(tokens, pos, seqs, logits)
                continue
            if rc == 1:
                raise ContextLengthExceededError(max(pos) + 1, self.n_ctx)
            raise EdgewiseError(
                f"llama.cpp failed to evaluate the prompt (llama_decode returned {rc})"
            )

    def _evict(self, keep: set[int]) -> bool:
        """Drop the least recently used slot not in ``keep``; False if none is left."""
        cold = [s for s in self._slots if s.seq not in keep and s.tokens]
        if not cold:
            return False
        self._drop(min(cold, key=lambda s: (s.hot, s.used)))
        return True

    @staticmethod
    def _common(a: Sequence[int], b: Sequence[int]) -> int:
        n, limit = 0, min(len(a), len(b))
        while n < limit and a[n] == b[n]:
            n += 1
        return n

    def _drop(self, slot: _Slot) -> None:
        """Evict a slot's KV cells; remember its tokens as a ghost (evidence of reuse)."""
        if slot.tokens:
            self._ghosts.append(slot.tokens)
            del self._ghosts[:-GHOSTS]
        self._lib.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
        slot.tokens, slot.hot = [], False

    def _slot_for(self, tokens: Sequence[int]) -> tuple[_Slot, int]:
        """Choose the slot for a prompt and how many of its tokens are already cached.

        Every warm token costs attention time for every later token (all sequences share one
        unified KV cache), so only prefixes that recur are kept: a slot becomes "hot" when a
        later prompt reuses at least MIN_REUSE of its tokens, or when a new prompt matches a
        recently evicted one. Slots that were never reused are evicted when another is needed.
        """
        best = max(self._slots, key=lambda s: (self._common(s.tokens, tokens), s.used))
        n = self._common(best.tokens, tokens)
        if n >= MIN_REUSE:
            best.hot = True
        if best.tokens and (n == len(best.tokens) or 2 * n >= len(best.tokens)):
            return best, n  # the prompt extends this slot, or mostly shares it
        # A short overlap must not destroy another warm prefix: take an empty or cold slot,
        # copying the shared part into it (free in a unified KV cache).
        for slot in self._slots:
            if slot is not best and not slot.hot:
                self._drop(slot)
        if not best.hot:
            target = best
            n = 0 if not best.tokens else n
        else:
            others = [s for s in self._slots if s is not best]
            target = min(others, key=lambda s: (bool(s.tokens), s.used))
            self._drop(target)
            if n > 0:
                self._lib.llama_memory_seq_cp(self._mem, best.seq, target.seq, 0, n)
                target.tokens = best.tokens[:n]
        if target is best and n < len(best.tokens):
            self._ghosts.append(best.tokens[:])
            del self._ghosts[:-GHOSTS]
        target.hot = any(self._common(g, tokens) >= MIN_REUSE for g in self._ghosts)
        # Hot slots other than the target may hold at most half the context.
        warm = sorted(
            (s for s in self._slots if s is not target and s.tokens), key=lambda s: s.used
        )
        while warm and sum(len(s.tokens) for s in warm) > self.n_ctx // 2:
            self._drop(warm.pop(0))
        return target, n

    def _eval_prefix(
        self, tokens: list[int], *, need_logits: bool, persist: bool = False
    ) -> tuple[_Slot, int]:
        """Bring a slot to hold exactly ``tokens``; evaluate only what is not cached.

        Returns the slot and how many tokens were reused. With ``need_logits`` the last
        token is always evaluated, so its logits are available at output index -1, and always
        in a decode call of its own: llama.cpp's one-token kernels round differently from its
        batch kernels, and a prompt seen before (all but its last token cached) must give the
        same logits, so the same greedy output, as the first time (measured: an extraction
        read an age of 71 as 20 on a cold cache only). With ``persist`` the prefix is loaded
        from, or else saved to, the on-disk prefix store.
        """
        if len(tokens) >= self.n_ctx:
            raise ContextLengthExceededError(len(tokens), self.n_ctx)
        slot, common = self._slot_for(tokens)
        if need_logits:
            common = min(common, len(tokens) - 1)
        persist = persist and not need_logits and self._store is not None
        persist = persist and len(tokens) >= PERSIST_MIN_TOKENS
        if persist and len(tokens) - common >= PERSIST_MIN_TOKENS and self._restore(slot, tokens):
            self.stats["prompt_tokens"] += len(tokens)
            self.stats["cached_tokens"] += len(tokens)
            self.stats["disk_tokens"] += len(tokens)
            return slot, len(tokens)
        self._lib.llama_memory_seq_rm(self._mem, slot.seq, common, -1)
        del slot.tokens[common:]
        slot.used = time.monotonic()
        keep = {slot.seq}
        pos = common
        while pos < len(tokens):
            stop = len(tokens) - 1 if need_logits and pos < len(tokens) - 1 else len(tokens)
            chunk = tokens[pos : min(pos + self.n_batch, stop)]
            end = pos + len(chunk)
            flags = [False] * len(chunk)
            if need_logits and end == len(tokens):
                flags[-1] = True
            try:
                self._decode(chunk, range(pos, end), [[slot.seq]] * len(chunk), flags, keep)
            except BaseException:
                self._lib.llama_memory_seq_rm(self._mem, slot.seq, len(slot.tokens), -1)
                raise
            slot.tokens.extend(chunk)
            pos = end
        self.stats["prompt_tokens"] += len(tokens)
        self.stats["cached_tokens"] += common
        if persist and common < len(tokens):
            self._persist(slot)
        return slot, common

    def _restore(self, slot: _Slot, tokens: list[int]) -> bool:
        """Load ``tokens``' KV cells from the prefix store into ``slot``; False if absent."""
        assert self._store is not None
        payload = self._store.load(tokens)
        if payload is None:
            return False
        buf = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
        # llama.cpp empties the sequence, then needs one contiguous run of free cells
        if self._lib.llama_state_seq_set_data(self._ctx.ctx, buf, len(payload), slot.seq) == 0:
            self._lib.llama_memory_seq_rm(self._mem, slot.seq, -1, -1)
            slot.tokens = []
            log.debug("a stored prefix did not fit the KV cache; evaluating it instead")
            return False
        slot.tokens = list(tokens)
        slot.used = time.monotonic()
        return True

    def _persist(self, slot: _Slot) -> None:
        """Save ``slot``'s KV cells (exactly its tokens) to the prefix store."""
        assert self._store is not None
        size = self._lib.llama_state_seq_get_size(self._ctx.ctx, slot.seq)
        buf = (ctypes.c_uint8 * size)()
        if self._lib.llama_state_seq_get_data(self._ctx.ctx, buf, size, slot.seq) != size:
            return
        self._store.save(slot.tokens, bytes(buf))

    def _logits_row(self, index: int) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(self._ctx.ctx, index)
        if not ptr:
            raise EdgewiseError("llama.cpp returned no logits")
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    # ------------------------------------------------------------------ generation
    def _grammar(self, schema: Any) -> Any:
        compiled = compile_schema(schema)
        sampler = self._grammars.get(compiled.gbnf)
        if sampler is None:
            sampler = self._lib.llama_sampler_init_grammar(
                self._vocab, compiled.gbnf.encode("utf-8"), b"root"
            )
            if not sampler:
                raise UnsupportedSchemaError("llama.cpp refused the grammar built from this schema")
            self._grammars[compiled.gbnf] = sampler
        return self._lib.llama_sampler_clone(sampler)

    def _no_eog(self) -> Any:
        """A logit-bias sampler that rules out every end-of-generation token."""
        lib = self._lib
        if self._eog is None:
            self._eog = [t for t in range(self.n_vocab) if lib.llama_vocab_is_eog(self._vocab, t)]
        eog = self._eog
        biases = (lib.llama_logit_bias * len(eog))()
        for i, tok in enumerate(eog):
            biases[i].token, biases[i].bias = tok, float("-inf")
        return lib.llama_sampler_init_logit_bias(self.n_vocab, len(eog), biases)

    def _sampler(self, opts: GenerationOptions) -> Any:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        try:
            if opts.repeat_penalty != 1.0:
                lib.llama_sampler_chain_add(
                    chain,
                    lib.llama_sampler_init_penalties(
                        self.n_vocab, 64, opts.repeat_penalty, 0.0, 0.0
                    ),
                )
            if opts.ignore_eos:
                lib.llama_sampler_chain_add(chain, self._no_eog())
            if opts.temperature == 0.0:
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
            else:
                if opts.top_k > 0:
                    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(opts.top_k))
                if opts.top_p < 1.0:
                    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(opts.top_p, 1))
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(opts.temperature))
                seed = opts.seed if opts.seed is not None else lib.LLAMA_DEFAULT_SEED
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed))
        except BaseException:
            lib.llama_sampler_free(chain)
            raise
        return chain

    def stream(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
        logprobs: int | None = None,
    ) -> Iterator[Chunk]:
        """Yield text chunks as they are generated; the last chunk carries usage/timings.

        ``logprobs=N`` attaches to each chunk the log-probability of every generated token in
        it and the N most likely tokens at that step (0 <= N <= 20).
        """
        opts = GenerationOptions.parse(options)
        check_prompt(prompt)
        self._need_ctx()
        if logprobs is not None and not 0 <= logprobs <= MAX_TOP_LOGPROBS:
            raise InvalidOptionsError(f"logprobs must be between 0 and {MAX_TOP_LOGPROBS}")
        tokens = self.prompt_tokens(prompt)
        if len(tokens) >= self.n_ctx:
            raise ContextLengthExceededError(len(tokens), self.n_ctx)
        if schema is not None:
            compile_schema(schema)  # unsupported schemas fail before any work
        return self._stream(tokens, opts, schema, logprobs)

    def _token_logprob(self, tok: int, top_n: int) -> TokenLogprob:
        row = self._logits_row(-1)
        m = float(row.max())
        lse = m + float(np.log(np.exp(row - m).sum()))
        top: list[TopLogprob] = []
        if top_n > 0:
            idx = np.argpartition(row, -top_n)[-top_n:]
            for i in idx[np.argsort(-row[idx])]:
                piece = self._piece_bytes(int(i))
                top.append(
                    TopLogprob(
                        token=piece.decode("utf-8", "replace"),
                        logprob=float(row[i]) - lse,
                        bytes=list(piece),
                    )
                )
        piece = self._piece_bytes(tok)
        return TokenLogprob(
            token=piece.decode("utf-8", "replace"),
            logprob=float(row[tok]) - lse,
            bytes=list(piece),
            top=top,
        )

    def _stream(
        self, tokens: list[int], opts: GenerationOptions, schema: Any, logprobs: int | None = None
    ) -> Iterator[Chunk]:
        lib = self._lib
        with self._lock:
            self._check_open()  # closed by another thread since stream() checked
            t0 = time.perf_counter()
            slot, cached = self._eval_prefix(tokens, need_logits=True)
            t1 = time.perf_counter()
            sampler = self._sampler(opts)
            grammar = _GrammarSampling(self, schema) if schema is not None else None
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            stops = StopMatcher(opts.stop)
            budget = min(opts.max_tokens, self.n_ctx - len(tokens))
            n_gen = 0
            finish = "length"
            pending: list[TokenLogprob] = []
            try:
                while n_gen < budget:
                    if grammar is not None:
                        tok = grammar.sample(sampler)
                    else:
                        tok = lib.llama_sampler_sample(sampler, self._ctx.ctx, -1)
                    if lib.llama_vocab_is_eog(self._vocab, tok):
                        finish = "stop"
                        break
                    n_gen += 1
                    if logprobs is not None:
                        pending.append(self._token_logprob(tok, logprobs))
                    text = stops.feed(decoder.decode(self._piece_bytes(tok)))
                    if text:
                        yield Chunk(text=text, logprobs=pending if logprobs is not None else None)
                        pending = []
                    if stops.stopped:
                        finish = "stop"
                        break
                    if n_gen >= budget:
                        break
                    pos = len(slot.tokens)
                    self._decode([tok], [pos], [[slot.seq]], [True], {slot.seq})
                    slot.tokens.append(tok)
                    slot.used = time.monotonic()
            finally:
                lib.llama_sampler_free(sampler)
                if grammar is not None:
                    grammar.free()
            tail = stops.flush() + decoder.decode(b"", final=True) if not stops.stopped else ""
            t2 = time.perf_counter()
        yield Chunk(
            text=tail,
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(prompt_tokens=len(tokens), completion_tokens=n_gen, cached_tokens=cached),
            timings=Timings(prompt_ms=(t1 - t0) * 1000, decode_ms=(t2 - t1) * 1000),
            logprobs=(pending if tail else []) if logprobs is not None else None,
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

        ``prefix`` and each item may be given as token ids (from ``prompt_tokens`` and
        ``tokenize``), which lets a caller keep user text from being parsed as special tokens.

        The prefix is evaluated once (and stays cached for the next call); each item, and
        each multi-token continuation, becomes a sequence that shares the prefix's KV cells,
        and as many as fit are evaluated in one llama_decode call. Items that start with the
        same tokens evaluate those once, and an item given twice is evaluated once. ``persist`` marks a prefix
        that later processes will use again (a classifier's prompt): it is kept on disk. More
        multi-token continuations than scratch sequences (a classifier with 150 labels) are
        scored in runs, each over the cached prefix.
        """
        self._need_ctx()
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
            (self._tokenize(t, add_bos=False, special=True) if t else [])
            if isinstance(t, str)
            else [int(x) for x in t]
            for t in items
        ]
        # every multi-token continuation of an item takes a scratch sequence, so more of them
        # than there are scratch sequences are scored in runs that each fit
        runs: list[list[int]] = [[]]
        n_multi = 0
        for k, c in enumerate(conts):
            if len(c) > 1:
                if n_multi == len(self._scratch):
                    runs.append([])
                    n_multi = 0
                n_multi += 1
            runs[-1].append(k)
        rows: list[list[ContinuationScore]] = [[] for _ in items]
        with self._lock:
            self._check_open()  # closed by another thread since the check above
            for run in runs:
                part = self._score_batch(
                    prefix_tokens,
                    item_tokens,
                    [conts[k] for k in run],
                    [names[k] for k in run],
                    persist,
                )
                for row, scores in zip(rows, part):
                    row.extend(scores)
        return rows

    def _score_batch(
        self,
        prefix: list[int],
        items: list[list[int]],
        conts: list[list[int]],
        texts: Sequence[str],
        persist: bool = False,
    ) -> list[list[ContinuationScore]]:
        multi = [k for k, c in enumerate(conts) if len(c) > 1]
        # An item needs at least one token of its own; an empty item borrows the prefix's last.
        if any(not it for it in items) and not prefix:
            raise EdgewiseError("nothing to score after: prompt and item are both empty")
        if prefix:
            slot, _ = self._eval_prefix(prefix, need_logits=False, persist=persist)
            slot_seq = slot.seq
        else:
            slot_seq, slot = -1, None
        jobs: list[_Job] = []
        for it in items:
            share = len(prefix)
            toks = list(it)
            if not toks:
                share -= 1
                toks = [prefix[-1]]
            jobs.append(_Job(share=share, tokens=toks))
        results: list[list[ContinuationScore]] = [[] for _ in items]
        n_seqs_per_job = max(1, len(multi))  # at most the scratch sequences (score_batch)
        # Items in token order, so that items starting alike ("Re: [list] ...") sit next to
        # each other and evaluate their common leading tokens once, in cells all their
        # sequences share; an item identical to another is not evaluated again.
        order = sorted(jobs, key=lambda j: (j.share, j.tokens))
        unique: list[_Job] = []
        for job in order:
            if unique and unique[-1].share == job.share and unique[-1].tokens == job.tokens:
                job.same = unique[-1]
            else:
                unique.append(job)
        # Group jobs so each group's tokens fit a batch and its sequences fit the scratch ids.
        extra = sum(len(conts[k]) - 1 for k in multi)
        group: list[_Job] = []
        group_tokens = 0
        for job in unique:
            size = len(job.tokens) - _shared(group[-1] if group else None, job) + extra
            if group and (
                group_tokens + size > self.n_batch
                or (len(group) + 1) * n_seqs_per_job > len(self._scratch)
            ):
                self._run_group(group, slot_seq, conts, multi)
                group, group_tokens = [], 0
                size = len(job.tokens) + extra
            group.append(job)
            group_tokens += size
        if group:
            self._run_group(group, slot_seq, conts, multi)
        for job in jobs:
            if job.same is not None:
                job.rows = job.same.rows
        for j, job in enumerate(jobs):
            last = len(job.tokens) - 1
            row0 = job.rows[last]
            for k, c in enumerate(conts):
                lps = [row0[c[0]]]
                if len(c) > 1:
                    base = len(job.tokens) + sum(len(conts[m]) - 1 for m in multi[: multi.index(k)])
                    for t in range(1, len(c)):
                        lps.append(job.rows[base + t - 1][c[t]])
                results[j].append(
                    ContinuationScore(text=texts[k], logprob=float(sum(lps)), token_logprobs=lps)
                )
        if slot is not None:
            slot.used = time.monotonic()
        return results

    def _run_group(
        self, group: list[_Job], slot_seq: int, conts: list[list[int]], multi: list[int]
    ) -> None:
        """Evaluate a group of jobs (in token order) in shared-prefix scratch sequences.

        Each job gets one sequence per multi-token continuation (or one). The leading tokens
        a run of consecutive jobs has in common are fed once, as cells belonging to all
        their sequences: llama.cpp masks a token by its first sequence id, and each such
        cell's ancestors carry every sequence of the run, so the result equals evaluating
        each job alone. Only the rows needed for scoring are kept.
        """
        lib = self._lib
        free = list(self._scratch)
        used: list[int] = []
        flat_tok: list[int] = []
        flat_pos: list[int] = []
        flat_seq: list[list[int]] = []
        flat_out: list[bool] = []
        owners: list[tuple[_Job, int, list[int]]] = []  # per output: job, index, ids to score
        firsts = [c[0] for c in conts]
        try:
            seqs = [[free.pop() for _ in range(max(1, len(multi)))] for _ in group]
            for job, own in zip(group, seqs):
                used.extend(own)
                if slot_seq >= 0 and job.share > 0:
                    for s in own:
                        lib.llama_memory_seq_cp(self._mem, slot_seq, s, 0, job.share)
            # common[j]: leading tokens job j shares with job j - 1
            common = [0] + [_shared(a, b) for a, b in zip(group, group[1:])]
            for j, job in enumerate(group):
                last = len(job.tokens) - 1
                # the token at depth d belongs to jobs j..k while common[j+1..k] > d: walk
                # the depths upwards, taking in the later jobs that share each one
                runs: list[list[int]] = []
                members, reach = seqs[j], j
                for d in range(last, common[j] - 1, -1):
                    while reach + 1 < len(group) and common[reach + 1] > d:
                        reach += 1
                        members = members + seqs[reach]
                    runs.append(members)
                runs.reverse()
                for i, tok in enumerate(job.tokens[common[j] :], start=common[j]):
                    flat_tok.append(tok)
                    flat_pos.append(job.share + i)
                    flat_seq.append(runs[i - common[j]])
                    out = i == last
                    flat_out.append(out)
                    if out:
                        owners.append((job, last, firsts))
                index = len(job.tokens)
                for n, k in enumerate(multi):
                    c = conts[k]
                    for t in range(len(c) - 1):
                        flat_tok.append(c[t])
                        flat_pos.append(job.share + len(job.tokens) + t)
                        flat_seq.append([seqs[j][n]])
                        flat_out.append(True)
                        owners.append((job, index, [c[t + 1]]))
                        index += 1
            # Split into llama_decode calls of at most n_batch tokens; collect output rows.
            self.stats["scored_tokens"] += len(flat_tok)
            start = 0
            n_read = 0
            keep = {slot_seq, *used}
            while start < len(flat_tok):
                end = min(start + self.n_batch, len(flat_tok))
                self._decode(
                    flat_tok[start:end],
                    flat_pos[start:end],
                    flat_seq[start:end],
                    flat_out[start:end],
                    keep,
                )
                for i in range(start, end):
                    if flat_out[i]:
                        job, idx, ids = owners[n_read]
                        n_read += 1
                        # llama_get_logits_ith takes the token's index in the batch
                        lps = log_softmax_at(self._logits_row(i - start), ids)
                        job.rows[idx] = dict(zip(ids, lps))
                start = end
        finally:
            for s in used:
                lib.llama_memory_seq_rm(self._mem, s, -1, -1)

    # ------------------------------------------------------------------ embeddings
    def _embedding_ctx(self) -> Any:
        self._check_open()
        if self._embed_ctx is None:
            from llama_cpp._internals import LlamaContext

            lib = self._lib
            n = min(self.n_ctx_train or 2048, 2048)
            cparams = lib.llama_context_default_params()
            cparams.n_ctx = n
            cparams.n_batch = n
            cparams.n_ubatch = n
            cparams.n_seq_max = EMBED_SEQS
            cparams.kv_unified = True
            cparams.embeddings = True
            cparams.n_threads = self.threads
            cparams.n_threads_batch = self.threads
            # Embedding models carry their pooling type; decoders get mean pooling.
            pooling = self.info.pooling_type
            cparams.pooling_type = (
                lib.LLAMA_POOLING_TYPE_MEAN
                if pooling in (None, 0)
                else lib.LLAMA_POOLING_TYPE_UNSPECIFIED
            )
            cparams.no_perf = True
            try:
                self._embed_ctx = LlamaContext(model=self._model, params=cparams, verbose=False)
            except ValueError as exc:
                raise ModelLoadError(
                    str(self.path), f"could not create an embedding context ({exc})"
                ) from exc
            self._embed_n = n
            self._embed_batch = _Batch(lib, n, 1)
            self._stack.callback(self._embed_batch.free)
        return self._embed_ctx

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """L2-normalized pooled embeddings, one per text."""
        texts = check_texts(texts)
        with self._lock:
            ctx = self._embedding_ctx()
            lib = self._lib
            mem = lib.llama_get_memory(ctx.ctx)
            n_embd = self._model.n_embd()
            toks = [self._tokenize(t, add_bos=self.add_bos, special=False) for t in texts]
            for t in toks:
                if len(t) > self._embed_n:
                    raise ContextLengthExceededError(len(t), self._embed_n)
            out: list[list[float]] = [[] for _ in texts]
            i = 0
            while i < len(toks):
                group: list[int] = []
                n_tok = 0
                while (
                    i < len(toks)
                    and len(group) < EMBED_SEQS
                    and n_tok + max(1, len(toks[i])) <= self._embed_n
                ):
                    group.append(i)
                    n_tok += max(1, len(toks[i]))
                    i += 1
                flat_t: list[int] = []
                flat_p: list[int] = []
                flat_s: list[list[int]] = []
                for s, idx in enumerate(group):
                    t = toks[idx] or [
                        self._model.token_bos() if self._model.token_bos() >= 0 else 0
                    ]
                    flat_t += t
                    flat_p += range(len(t))
                    flat_s += [[s]] * len(t)
                self._embed_batch.fill(flat_t, flat_p, flat_s, [True] * len(flat_t))
                if mem:
                    lib.llama_memory_clear(mem, True)
                model = self._model.model
                if lib.llama_model_has_encoder(model) and not lib.llama_model_has_decoder(model):
                    rc = lib.llama_encode(ctx.ctx, self._embed_batch.batch)
                else:
                    rc = lib.llama_decode(ctx.ctx, self._embed_batch.batch)
                if rc != 0:
                    raise EdgewiseError(f"llama.cpp failed to embed (code {rc})")
                for s, idx in enumerate(group):
                    ptr = lib.llama_get_embeddings_seq(ctx.ctx, s)
                    if not ptr:
                        raise EdgewiseError("llama.cpp returned no pooled embedding")
                    vec = np.ctypeslib.as_array(ptr, shape=(n_embd,)).astype(np.float64)
                    norm = float(np.linalg.norm(vec)) or 1.0
                    out[idx] = (vec / norm).tolist()
            return out
