"""The local model store in EDGEWISE_HOME: registered GGUF files and downloaded models.

``models.json`` maps a name to a file the user already has (``edgewise models add``). It is
rewritten atomically (write to a temporary file, then rename), so a crash never leaves it
half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from edgewise import config
from edgewise.errors import InputError

_NAME = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")


def models_dir() -> Path:
    path = config.home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _registry_path() -> Path:
    return config.home() / "models.json"


def load_registry() -> dict[str, dict[str, Any]]:
    path = _registry_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}; fix or delete that file") from None
    return data if isinstance(data, dict) else {}


def public_mode(fd: int) -> None:
    """Give a file made by mkstemp (mode 0600) the mode a plain open() would have."""
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    public_mode(fd)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_registry(data: dict[str, dict[str, Any]]) -> None:
    atomic_write_text(_registry_path(), json.dumps(data, indent=2, sort_keys=True) + "\n")


def sha256_file(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def valid_name(name: str) -> str:
    key = name.strip().lower()
    if not _NAME.match(key):
        raise InputError(
            f"invalid model name {name!r}: use 1-64 characters from a-z, 0-9, '.', '_', ':', '-'"
        )
    return key


def add(path: str | os.PathLike[str], name: str | None = None) -> dict[str, Any]:
    """Register an existing GGUF file under ``name``; validate its header, record sha256+size."""
    from edgewise.gguf import read_gguf

    src = Path(path).expanduser().resolve()
    info = read_gguf(src)  # raises ModelLoadError for non-GGUF / truncated files
    key = valid_name(name or src.stem)
    record = {
        "path": str(src),
        "size": src.stat().st_size,
        "sha256": sha256_file(src),
        "architecture": info.architecture,
        "quant": info.file_type,
        "context": info.context_length,
        "chat_template": bool(info.chat_template),
        "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    data = load_registry()
    data[key] = record
    _save_registry(data)
    return {"name": key, **record}


def registered_names() -> list[str]:
    return sorted(load_registry())
