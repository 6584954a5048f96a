"""Pooled embeddings from a second context on the same (memory-mapped) weights.

The context is created on first use, so engines that never embed pay nothing for it.
Embedding models carry their pooling type; decoders get mean pooling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgewise.engines.llamacpp.handles import Batch, ModelHandles
from edgewise.errors import ContextLengthExceededError, EdgewiseError, ModelLoadError
from edgewise.gguf import GGUFInfo

EMBED_SEQS = 32


class Embedder:
    """L2-normalized pooled embeddings of texts, up to EMBED_SEQS texts per decode call."""

    def __init__(self, native: ModelHandles, info: GGUFInfo, *, threads: int) -> None:
        self.native = native
        self.info = info
        self.threads = threads
        self.ctx: Any = None
        self.n = 0
        self.batch: Batch | None = None

    def close(self) -> None:
        if self.ctx is not None:
            self.ctx.close()
            self.ctx = None
        if self.batch is not None:
            self.batch.free()

    def _context(self) -> Any:
        self.native.guard()
        if self.ctx is None:
            from llama_cpp._internals import LlamaContext

            lib = self.native.lib
            n = min(self.native.n_ctx_train or 2048, 2048)
            cparams = lib.llama_context_default_params()
            cparams.n_ctx = n
            cparams.n_batch = n
            cparams.n_ubatch = n
            cparams.n_seq_max = EMBED_SEQS
            cparams.kv_unified = True
            cparams.embeddings = True
            cparams.n_threads = self.threads
            cparams.n_threads_batch = self.threads
            pooling = self.info.pooling_type
            cparams.pooling_type = (
                lib.LLAMA_POOLING_TYPE_MEAN
                if pooling in (None, 0)
                else lib.LLAMA_POOLING_TYPE_UNSPECIFIED
            )
            cparams.no_perf = True
            try:
                self.ctx = LlamaContext(model=self.native.model, params=cparams, verbose=False)
            except ValueError as exc:
                raise ModelLoadError(
                    str(self.native.path), f"could not create an embedding context ({exc})"
                ) from exc
            self.n = n
            self.batch = Batch(lib, n, 1)
        return self.ctx

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text; the caller holds the engine's lock."""
        native = self.native
        ctx = self._context()
        assert self.batch is not None
        lib = native.lib
        mem = lib.llama_get_memory(ctx.ctx)
        n_embd = native.model.n_embd()
        toks = [native.tokenize(t, add_bos=native.add_bos, special=False) for t in texts]
        for t in toks:
            if len(t) > self.n:
                raise ContextLengthExceededError(len(t), self.n)
        out: list[list[float]] = [[] for _ in texts]
        i = 0
        while i < len(toks):
            group: list[int] = []
            n_tok = 0
            while (
                i < len(toks) and len(group) < EMBED_SEQS and n_tok + max(1, len(toks[i])) <= self.n
            ):
                group.append(i)
                n_tok += max(1, len(toks[i]))
                i += 1
            flat_t: list[int] = []
            flat_p: list[int] = []
            flat_s: list[list[int]] = []
            for s, idx in enumerate(group):
                t = toks[idx] or [native.model.token_bos() if native.model.token_bos() >= 0 else 0]
                flat_t += t
                flat_p += range(len(t))
                flat_s += [[s]] * len(t)
            self.batch.fill(flat_t, flat_p, flat_s, [True] * len(flat_t))
            if mem:
                lib.llama_memory_clear(mem, True)
            model = native.model.model
            if lib.llama_model_has_encoder(model) and not lib.llama_model_has_decoder(model):
                rc = lib.llama_encode(ctx.ctx, self.batch.batch)
            else:
                rc = lib.llama_decode(ctx.ctx, self.batch.batch)
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
