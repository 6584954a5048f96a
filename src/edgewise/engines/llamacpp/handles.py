"""The native handles of one GGUF model: weights, vocabulary, and the context text runs in.

``ModelHandles`` loads the weights (memory-mapped, in the buffers this CPU can run, see
``native.extra_buffers_safe``), turns text into tokens and back, and owns the context that
generation and scoring decode in. Every handle is released by ``close`` (an ExitStack, in
reverse order of creation). ``guard`` is called before the vocabulary is touched: llama.cpp
aborts the process on a freed model, so a closed engine must raise first.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.engines.llamacpp.native import extra_buffers_safe, library, repack_overrides
from edgewise.errors import EdgewiseError, ModelLoadError, check_unicode
from edgewise.gguf import GGUFInfo


class Batch:
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


class ModelHandles:
    """A GGUF model loaded by llama.cpp, its vocabulary, and (``open_context``) its context."""

    ctx: Any = None  # llama_cpp's LlamaContext; None for an embedding-only (encoder) model
    mem: Any = None  # the context's KV memory
    batch: Batch

    def __init__(self, path: Path, info: GGUFInfo, *, guard: Callable[[], None]) -> None:
        self.path = path
        self.guard = guard
        self.stack = ExitStack()
        lib = library()
        self.lib = lib
        from llama_cpp._internals import LlamaModel

        mparams = lib.llama_model_default_params()
        mparams.use_mmap = True
        mparams.use_extra_bufts = extra_buffers_safe()
        self.overrides = None if mparams.use_extra_bufts else repack_overrides(info)
        if self.overrides is not None:
            mparams.tensor_buft_overrides = ctypes.addressof(self.overrides)
        try:
            self.model = LlamaModel(path_model=str(path), params=mparams, verbose=False)
        except ValueError as exc:
            raise ModelLoadError(str(path), f"llama.cpp could not load it ({exc})") from exc
        self.stack.callback(self.model.close)
        self.vocab = self.model.vocab
        self.n_vocab: int = self.model.n_vocab()
        self.n_ctx_train: int = self.model.n_ctx_train()
        self.bos_text = (
            self.piece(self.model.token_bos(), special=True) if self.model.token_bos() >= 0 else ""
        )
        self.eos_text = (
            self.piece(self.model.token_eos(), special=True) if self.model.token_eos() >= 0 else ""
        )
        self.add_bos = bool(self.model.add_bos_token())

    def open_context(
        self, *, n_ctx: int, n_batch: int, n_seq_max: int, threads: int, flash_attn: bool
    ) -> None:
        """The context generation and scoring decode in, with ``n_seq_max`` sequences."""
        from llama_cpp._internals import LlamaContext

        lib = self.lib
        cparams = lib.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = n_seq_max
        cparams.kv_unified = True  # all sequences share the cells: a copied prefix costs nothing
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        # Flash attention skips the masked cells of the other sequences sharing the
        # unified cache (batched items attend to the prefix only) and never materializes
        # the n_kv x n_ubatch score matrix
        cparams.flash_attn_type = (
            lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        cparams.no_perf = True
        try:
            self.ctx = LlamaContext(model=self.model, params=cparams, verbose=False)
        except ValueError as exc:
            raise ModelLoadError(str(self.path), f"could not create a context ({exc})") from exc
        self.stack.callback(self.ctx.close)
        self.mem = lib.llama_get_memory(self.ctx.ctx)
        self.batch = Batch(lib, n_batch, n_seq_max)
        self.stack.callback(self.batch.free)

    def close(self) -> None:
        self.stack.close()

    # ------------------------------------------------------------------ tokens & text
    def piece(self, token: int, special: bool = False) -> str:
        return self.piece_bytes(token, special).decode("utf-8", "replace")

    def piece_bytes(self, token: int, special: bool = False) -> bytes:
        self.guard()
        buf = ctypes.create_string_buffer(64)
        n = self.lib.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        self.guard()
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: one line saying where
            check_unicode(text)
            raise
        size = len(data) + 8
        arr = (self.lib.llama_token * size)()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), arr, size, add_bos, special)
        if n < 0:
            size = -n
            arr = (self.lib.llama_token * size)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), arr, size, add_bos, special)
        return list(arr[:n])

    def logits_row(self, index: int) -> np.ndarray:
        """The logits of output ``index`` of the last decode (-1: the last one), not copied."""
        ptr = self.lib.llama_get_logits_ith(self.ctx.ctx, index)
        if not ptr:
            raise EdgewiseError("llama.cpp returned no logits")
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
