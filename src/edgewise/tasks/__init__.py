"""Task APIs built on the Engine protocol: classify, route, triage, extract, summarize, converse.

Tasks never import llama_cpp; they take any ``Engine`` (``engine=``) and otherwise use the
process-wide default engine, the embedded model, loaded once on first use.
"""

from __future__ import annotations

import threading

from edgewise.engines.base import Engine

_default: Engine | None = None
_lock = threading.Lock()


def default_engine() -> Engine:
    """The embedded default model, loaded once per process."""
    global _default
    with _lock:
        if _default is None:
            from edgewise.engines import load

            _default = load()
        return _default
