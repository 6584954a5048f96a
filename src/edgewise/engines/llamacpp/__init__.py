"""GGUF models on CPU through llama.cpp (llama-cpp-python's low-level bindings).

This package is the only place that imports ``llama_cpp`` (lazily, in ``native.library()``).
It drives llama.cpp's C API directly instead of ``llama_cpp.Llama``:

- Prefix reuse without copying state: the KV cache holds several sequences ("slots"). A new
  prompt goes to the slot sharing the longest token prefix with it; the slot is rewound to
  that prefix (``llama_memory_seq_rm``) and only the new suffix is evaluated (``kv``).
- Continuation scoring evaluates the shared prompt once. Candidate continuations and batch
  items become extra sequences that share the prompt's KV cells (``llama_memory_seq_cp``),
  evaluated together in as few ``llama_decode`` calls as fit in a batch (``scoring``).
- A classifier's prompt prefix (``score_batch(..., persist=True)``) is also kept on disk
  (``prefix_store``): a new process loads its KV cells instead of evaluating it again.
- Sampling uses llama.cpp's sampler chain (grammar, penalties, top-k/top-p, temperature)
  (``sampling``, ``generation``).
- Embeddings use a second context on the same (memory-mapped) weights, created on first use
  (``embeddings``).

Modules: ``native`` (the library, CPU probing, the quantizer), ``handles`` (model, vocabulary,
context), ``kv``, ``sampling``, ``generation``, ``scoring``, ``embeddings``, and ``engine``
(``LlamaCppEngine``, which composes them). llama.cpp errors and refusals are translated into
edgewise errors in these modules, once each.
"""

from edgewise.engines.llamacpp.engine import DEFAULT_N_BATCH, LlamaCppEngine, smoke_test
from edgewise.engines.llamacpp.native import extra_buffers_safe, quantize_file, repack_overrides

__all__ = [
    "DEFAULT_N_BATCH",
    "LlamaCppEngine",
    "extra_buffers_safe",
    "quantize_file",
    "repack_overrides",
    "smoke_test",
]
