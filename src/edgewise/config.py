"""Settings read from ``EDGEWISE_*`` environment variables.

``EDGEWISE_HOME`` (default ``~/.edgewise``) holds registered models, assembled bundled models
and, later, profiles. ``EDGEWISE_THREADS`` overrides the thread count (default: physical
cores available to this process). ``EDGEWISE_N_CTX`` overrides the default context window.
``EDGEWISE_PREFIX_CACHE=0`` stops keeping evaluated classifier prompts on disk
(``engines/prefix_store.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def home() -> Path:
    """The edgewise home directory; created on first use."""
    raw = os.environ.get("EDGEWISE_HOME")
    path = Path(raw).expanduser() if raw else Path.home() / ".edgewise"
    path.mkdir(parents=True, exist_ok=True)
    return path


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once).

    llama.cpp decodes fastest with one thread per physical core; a second thread on a
    sibling hyper-thread mostly competes for the same memory bandwidth.
    """
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = list(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topo / "physical_package_id").read_text().strip()
            core = (topo / "core_id").read_text().strip()
        except OSError:
            return max(1, len(allowed))
        cores.add((package, core))
    return max(1, len(cores))


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        from edgewise.errors import InvalidOptionsError

        raise InvalidOptionsError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        from edgewise.errors import InvalidOptionsError

        raise InvalidOptionsError(f"{name} must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Runtime settings; ``Settings.from_env()`` reads the environment."""

    home: Path = field(default_factory=home)
    threads: int = field(default_factory=physical_cores)
    n_ctx: int | None = None
    flash_attn: bool = True
    prefix_cache: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            home=home(),
            threads=_int_env("EDGEWISE_THREADS") or physical_cores(),
            n_ctx=_int_env("EDGEWISE_N_CTX"),
            flash_attn=os.environ.get("EDGEWISE_FLASH_ATTN", "1") != "0",
            prefix_cache=os.environ.get("EDGEWISE_PREFIX_CACHE", "1") != "0",
        )
