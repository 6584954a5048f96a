"""Token-by-token generation in a warm KV slot: sampling, stop strings, UTF-8, logprobs.

The prompt goes through ``KVCache.eval_prefix`` (only its uncached suffix is evaluated), then
each sampled token is decoded in the same slot, so the next prompt that extends this
conversation finds it cached.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator

import numpy as np

from edgewise.engines.base import GenerationRequest, StopMatcher
from edgewise.engines.llamacpp.kv import KVCache
from edgewise.engines.llamacpp.sampling import Samplers
from edgewise.types import Chunk, Timings, TokenLogprob, TopLogprob, Usage

MAX_TOP_LOGPROBS = 20


class Generation:
    """One generate/stream call. ``chunks()`` yields the text as it comes, under the engine's
    lock; ``final`` is the last chunk (finish reason, usage, timings), which the engine
    yields after releasing the lock."""

    def __init__(
        self,
        kv: KVCache,
        samplers: Samplers,
        request: GenerationRequest,
        *,
        n_ctx: int,
        logprobs: int | None = None,
    ) -> None:
        self.kv = kv
        self.native = kv.native
        self.samplers = samplers
        self.tokens = request.tokens
        self.opts = request.options
        self.schema = request.schema
        self.n_ctx = n_ctx
        self.logprobs = logprobs
        self.final: Chunk | None = None

    def _token_logprob(self, tok: int, top_n: int) -> TokenLogprob:
        row = self.native.logits_row(-1)
        m = float(row.max())
        lse = m + float(np.log(np.exp(row - m).sum()))
        top: list[TopLogprob] = []
        if top_n > 0:
            idx = np.argpartition(row, -top_n)[-top_n:]
            for i in idx[np.argsort(-row[idx])]:
                piece = self.native.piece_bytes(int(i))
                top.append(
                    TopLogprob(
                        token=piece.decode("utf-8", "replace"),
                        logprob=float(row[i]) - lse,
                        bytes=list(piece),
                    )
                )
        piece = self.native.piece_bytes(tok)
        return TokenLogprob(
            token=piece.decode("utf-8", "replace"),
            logprob=float(row[tok]) - lse,
            bytes=list(piece),
            top=top,
        )

    def chunks(self) -> Iterator[Chunk]:
        native, lib = self.native, self.native.lib
        tokens, opts, logprobs = self.tokens, self.opts, self.logprobs
        t0 = time.perf_counter()
        slot, cached = self.kv.eval_prefix(tokens, need_logits=True)
        t1 = time.perf_counter()
        sampler = self.samplers.chain(opts)
        grammar = self.samplers.constrained(self.schema) if self.schema is not None else None
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
                    tok = lib.llama_sampler_sample(sampler, native.ctx.ctx, -1)
                if lib.llama_vocab_is_eog(native.vocab, tok):
                    finish = "stop"
                    break
                n_gen += 1
                if logprobs is not None:
                    pending.append(self._token_logprob(tok, logprobs))
                text = stops.feed(decoder.decode(native.piece_bytes(tok)))
                if text:
                    yield Chunk(text=text, logprobs=pending if logprobs is not None else None)
                    pending = []
                if stops.stopped:
                    finish = "stop"
                    break
                if n_gen >= budget:
                    break
                pos = len(slot.tokens)
                self.kv.decode([tok], [pos], [[slot.seq]], [True], {slot.seq})
                slot.tokens.append(tok)
                slot.used = time.monotonic()
        finally:
            lib.llama_sampler_free(sampler)
            if grammar is not None:
                grammar.free()
        tail = stops.flush() + decoder.decode(b"", final=True) if not stops.stopped else ""
        t2 = time.perf_counter()
        self.final = Chunk(
            text=tail,
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(prompt_tokens=len(tokens), completion_tokens=n_gen, cached_tokens=cached),
            timings=Timings(prompt_ms=(t1 - t0) * 1000, decode_ms=(t2 - t1) * 1000),
            logprobs=(pending if tail else []) if logprobs is not None else None,
        )
