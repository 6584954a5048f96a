"""llama.cpp's sampler chain (penalties, top-k/top-p, temperature) and grammar samplers.

A grammar is built once per schema and cloned for each generation; the clones and the chain
are freed by the generation that made them, the cached grammars by ``Samplers.close``.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from edgewise.engines.llamacpp.handles import ModelHandles
from edgewise.engines.logits import PENALTY_WINDOW
from edgewise.errors import UnsupportedSchemaError
from edgewise.structured import compile_schema
from edgewise.types import GenerationOptions

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class GrammarSampling:
    """Grammar-constrained sampling that checks the grammar against one token, not the vocab.

    The sampler chain picks a token from the raw logits; only that token is run through the
    grammar. If the grammar rejects it, the whole vocabulary is filtered by the grammar and
    the chain picks again (llama.cpp's common sampler does the same). Inside a JSON string
    nearly every token the model prefers is allowed, and filtering 49k candidates through the
    grammar was the larger part of each constrained step.
    """

    def __init__(self, native: ModelHandles, grammar: Any) -> None:
        self.native = native
        self.lib = native.lib
        self.grammar = grammar
        self.buf = np.zeros(native.n_vocab, dtype=_TOKEN_DATA)
        self.ids = np.arange(native.n_vocab, dtype=np.int32)
        self.one = (self.lib.llama_token_data * 1)()
        self.rejected = 0

    def _candidates(self) -> Any:
        self.buf["id"] = self.ids
        self.buf["logit"] = self.native.logits_row(-1)
        self.buf["p"] = 0.0
        data = self.buf.ctypes.data_as(ctypes.POINTER(self.lib.llama_token_data))
        return self.lib.llama_token_data_array(data, self.native.n_vocab, -1, False)

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


class Samplers:
    """Makes sampler chains and grammar samplers for one model; caches grammars by text."""

    def __init__(self, native: ModelHandles) -> None:
        self.native = native
        self.lib = native.lib
        self.grammars: dict[str, Any] = {}
        self.eog: list[int] | None = None

    def close(self) -> None:
        for sampler in self.grammars.values():
            self.lib.llama_sampler_free(sampler)
        self.grammars.clear()

    def grammar(self, schema: Any) -> Any:
        """A fresh grammar sampler for ``schema`` (a clone of the cached one)."""
        compiled = compile_schema(schema)
        sampler = self.grammars.get(compiled.gbnf)
        if sampler is None:
            sampler = self.lib.llama_sampler_init_grammar(
                self.native.vocab, compiled.gbnf.encode("utf-8"), b"root"
            )
            if not sampler:
                raise UnsupportedSchemaError("llama.cpp refused the grammar built from this schema")
            self.grammars[compiled.gbnf] = sampler
        return self.lib.llama_sampler_clone(sampler)

    def constrained(self, schema: Any) -> GrammarSampling:
        return GrammarSampling(self.native, self.grammar(schema))

    def no_eog(self) -> Any:
        """A logit-bias sampler that rules out every end-of-generation token."""
        lib = self.lib
        n_vocab, vocab = self.native.n_vocab, self.native.vocab
        if self.eog is None:
            self.eog = [t for t in range(n_vocab) if lib.llama_vocab_is_eog(vocab, t)]
        eog = self.eog
        biases = (lib.llama_logit_bias * len(eog))()
        for i, tok in enumerate(eog):
            biases[i].token, biases[i].bias = tok, float("-inf")
        return lib.llama_sampler_init_logit_bias(n_vocab, len(eog), biases)

    def chain(self, opts: GenerationOptions) -> Any:
        """The sampler chain for ``opts``, in llama.cpp's order; the caller frees it."""
        lib = self.lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        try:
            if opts.repeat_penalty != 1.0:
                lib.llama_sampler_chain_add(
                    chain,
                    lib.llama_sampler_init_penalties(
                        self.native.n_vocab, PENALTY_WINDOW, opts.repeat_penalty, 0.0, 0.0
                    ),
                )
            if opts.ignore_eos:
                lib.llama_sampler_chain_add(chain, self.no_eog())
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
