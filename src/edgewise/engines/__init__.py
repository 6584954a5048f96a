"""Inference engines behind one protocol; ``load()`` picks one for a model name or path."""

from __future__ import annotations

from typing import Any

from edgewise.engines.base import Engine
from edgewise.engines.fake import FakeEngine

__all__ = ["Engine", "FakeEngine", "load"]


def load(model: str | None = None, **kwargs: Any) -> Engine:
    """Load a GGUF model by catalog name, registered name or path on llama.cpp."""
    from edgewise.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine.from_name(model, **kwargs)
