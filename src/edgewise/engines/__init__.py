"""Inference engines behind one protocol.

``open_model(path)`` opens a local model with the engine its format needs. Model *names*
(catalog ids, ``name:QUANT``, registered names) are resolved above this package, by
``edgewise.resolver`` (``edgewise.load``), so no engine ever looks a name up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgewise.catalog import ModelEntry
from edgewise.engines.base import Engine, EngineBase
from edgewise.engines.fake import FakeEngine

__all__ = ["Engine", "EngineBase", "FakeEngine", "open_model"]


def open_model(
    path: str | Path, *, name: str | None = None, entry: ModelEntry | None = None, **kwargs: Any
) -> Engine:
    """Open a local model: a folder made by ``edgewise export onnx`` (it holds
    genai_config.json) on ONNX Runtime GenAI, anything else as a GGUF file on llama.cpp."""
    from edgewise.engines.onnx import OnnxEngine, is_onnx_model

    if is_onnx_model(path):
        return OnnxEngine(path, name=name, **kwargs)
    from edgewise.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine(path, name=name, entry=entry, **kwargs)
