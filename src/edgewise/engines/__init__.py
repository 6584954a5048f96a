"""Inference engines behind one protocol; ``load()`` picks one for a model name or path."""

from __future__ import annotations

from typing import Any

from edgewise.engines.base import Engine
from edgewise.engines.fake import FakeEngine

__all__ = ["Engine", "FakeEngine", "load"]


def load(model: str | None = None, **kwargs: Any) -> Engine:
    """Load a model: a GGUF (catalog name, registered name or path) on llama.cpp, or a folder
    made by ``edgewise export onnx`` (it holds genai_config.json) on ONNX Runtime GenAI."""
    from edgewise.engines.onnx import OnnxEngine, is_onnx_model

    if model is not None and is_onnx_model(model):
        return OnnxEngine(model, **kwargs)
    from edgewise.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine.from_name(model, **kwargs)
