"""``LlamaCppEngine``: a GGUF model on llama.cpp, composed of the parts in this package.

The engine validates its arguments (through ``EngineBase``), holds the lock that serializes
calls on one model, and hands the work to: ``ModelHandles`` (weights, vocabulary, context),
``KVCache`` (warm prompt slots), ``Samplers`` and ``Generation``, ``ContinuationScorer`` and
``Embedder``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from edgewise.catalog import ModelEntry
from edgewise.config import Settings
from edgewise.engines.base import (
    EngineBase,
    GenerationRequest,
    Prompt,
    ScoreRequest,
    check_sizes,
    context_size,
)
from edgewise.engines.llamacpp.embeddings import Embedder
from edgewise.engines.llamacpp.generation import MAX_TOP_LOGPROBS, Generation
from edgewise.engines.llamacpp.handles import ModelHandles
from edgewise.engines.llamacpp.kv import KVCache, prefix_store, sequences_for
from edgewise.engines.llamacpp.sampling import Samplers
from edgewise.engines.llamacpp.scoring import ContinuationScorer
from edgewise.errors import CapabilityError, InvalidOptionsError
from edgewise.gguf import GGUFInfo, read_gguf
from edgewise.types import Chunk, ContinuationScore, GenerationOptions

log = logging.getLogger("edgewise")

DEFAULT_N_BATCH = 512
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


class LlamaCppEngine(EngineBase):
    """A GGUF model loaded with llama.cpp. Use ``edgewise.load(name)``, or give a local path."""

    supports_grammar: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True
    supports_scoring: ClassVar[bool] = True
    supports_logprobs: ClassVar[bool] = True  # stream(..., logprobs=N)
    kind: ClassVar[str] = "llama.cpp"

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
        check_sizes(n_ctx=n_ctx, threads=threads, n_batch=n_batch)
        settings = settings or Settings.from_env()
        self.path = Path(path)
        self.info: GGUFInfo = read_gguf(self.path)  # refuses non-GGUF and truncated files
        self.entry = entry
        self.name = name or self.path.stem
        self.threads = threads or settings.threads
        self._lock = threading.RLock()
        self._native = native = ModelHandles(self.path, self.info, guard=self._check_open)
        self.n_vocab = native.n_vocab
        self.n_ctx_train = native.n_ctx_train
        self.encoder_only = self.info.architecture in ENCODER_ARCHS
        instruct = entry.instruct if entry is not None else True
        self._use_chat_template(self.info.chat_template, instruct=instruct, chat=chat)
        if not self.chat_mode and not self.encoder_only:
            log.info(
                "%s has no chat template (or is a base model): plain completion mode", self.name
            )
        self._bos_text = native.bos_text
        self._eos_text = native.eos_text
        self.add_bos = native.add_bos
        self.n_ctx = context_size(n_ctx, settings, self.n_ctx_train)
        self.n_batch = min(n_batch, self.n_ctx)
        self.n_seq_max = sequences_for(self.n_ctx)
        if not self.encoder_only:
            native.open_context(
                n_ctx=self.n_ctx,
                n_batch=self.n_batch,
                n_seq_max=self.n_seq_max,
                threads=self.threads,
                flash_attn=settings.flash_attn,
            )
        store = prefix_store(settings, self.path) if native.ctx is not None else None
        self._kv = KVCache(
            native, n_ctx=self.n_ctx, n_batch=self.n_batch, n_seq_max=self.n_seq_max, store=store
        )
        self.stats = self._kv.stats  # token and decode counters, read by tests and benchmarks
        self._samplers = Samplers(native)
        self._scorer = ContinuationScorer(self._kv)
        self._embedder = Embedder(native, self.info, threads=self.threads)

    def close(self) -> None:
        with self._lock:
            self._samplers.close()
            self._embedder.close()
            self._native.close()
            self._closed = True

    def __repr__(self) -> str:
        return f"LlamaCppEngine({self.name!r}, n_ctx={self.n_ctx}, threads={self.threads})"

    def _check_can_generate(self) -> None:
        self._check_open()
        if self._native.ctx is None:
            raise CapabilityError(
                f"{self.name} is an embedding model: it cannot generate or score text"
            )

    # ------------------------------------------------------------------ tokens & text
    def _tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        return self._native.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self._native.piece_bytes(t) for t in tokens).decode("utf-8", "replace")

    # ------------------------------------------------------------------ generation
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
        if logprobs is not None and not 0 <= logprobs <= MAX_TOP_LOGPROBS:
            raise InvalidOptionsError(f"logprobs must be between 0 and {MAX_TOP_LOGPROBS}")
        return self._stream(self._generation_request(prompt, options, schema), logprobs)

    def _start_stream(self, request: GenerationRequest) -> Iterator[Chunk]:
        return self._stream(request, None)

    def _stream(self, request: GenerationRequest, logprobs: int | None) -> Iterator[Chunk]:
        with self._lock:
            self._check_open()  # closed by another thread since stream() checked
            run = Generation(self._kv, self._samplers, request, n_ctx=self.n_ctx, logprobs=logprobs)
            yield from run.chunks()
        assert run.final is not None
        yield run.final  # outside the lock: a caller may stop reading at the last chunk

    # ------------------------------------------------------------------ scoring
    def _score(self, request: ScoreRequest, *, persist: bool) -> list[list[ContinuationScore]]:
        with self._lock:
            self._check_open()  # closed by another thread since the check in score_batch
            return self._scorer.score(request, persist=persist)

    # ------------------------------------------------------------------ embeddings
    def _embed(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            return self._embedder.embed(texts)


def smoke_test(path: Path) -> None:
    """Load ``path`` and decode a few tokens; ModelLoadError if that fails."""
    eng = LlamaCppEngine(path, n_ctx=256)
    try:
        if not eng.encoder_only:
            eng.generate("Hello", {"max_tokens": 2, "temperature": 0.0})
    finally:
        eng.close()
