"""Task APIs built on the Engine protocol: classify, route, triage, extract, summarize, converse.

Tasks never import llama_cpp; they take any ``Engine`` (``engine=``) and otherwise use the
process-wide default engine (the strongest model installed), loaded once on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from edgewise.engines.base import Engine
from edgewise.errors import InputError

_default: Engine | None = None
_lock = threading.Lock()


def default_engine() -> Engine:
    """The default model (``bundled.default_model()``: EDGEWISE_MODEL, else the strongest
    model installed), loaded once per process."""
    global _default
    with _lock:
        if _default is None:
            from edgewise.resolver import load

            _default = load()
        return _default


def text_list(texts: object, what: str) -> list[Any]:
    """The items of a batch call as a list (a generator is read once); one string, bytes or
    something that is not a collection of texts is an InputError naming ``what``."""
    if isinstance(texts, str):
        raise InputError(f"{what} takes a list of texts, not one string")
    if isinstance(texts, (bytes, bytearray, Mapping)) or not isinstance(texts, Iterable):
        raise InputError(f"{what} takes a list of texts, not {type(texts).__name__}")
    return list(texts)
