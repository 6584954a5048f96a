"""Server settings: one frozen object given to ``create_app`` and filled by ``edgewise serve``."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field

from edgewise.errors import InputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_KEEP_ALIVE = 300.0  # seconds an idle model stays loaded (Ollama's default: 5m)
MAX_KEEP_ALIVE = 2**63 / 1e9  # Go's longest time.Duration (about 292 years); beyond: for good
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ms|h|m|s)")


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3


def default_memory_budget() -> int:
    """Half the machine's RAM: room for the models, leaving the rest to the apps around them."""
    return _mem_total() // 2


def parse_size(text: str | int) -> int:
    """Bytes from ``"2G"``, ``"512MB"``, ``"1.5GiB"`` or a plain number of bytes."""
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(text)
        if not match:
            raise InputError(f"not a size: {text!r} (use e.g. 512M, 2G or a number of bytes)")
        number, unit = float(match.group(1)), match.group(2).lower()
        value = int(number * 1024 ** ("kmgt".index(unit) + 1 if unit else 0))
    if value <= 0:
        raise InputError(f"a size must be positive, not {text!r}")
    return value


def parse_keep_alive(value: object) -> float | None:
    """Seconds from Ollama's keep_alive: a number of seconds or a duration ("5m", "1h30m",
    "0"); a negative value keeps the model loaded for good (returned as None)."""
    if isinstance(value, bool):
        raise InputError(f"keep_alive must be a duration like '5m' or seconds, not {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise InputError(
                    f"keep_alive {value!r} is not a duration (use e.g. '5m', '30s', '1h', 0 or -1)"
                ) from None
            scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
            seconds = sum(float(n) * scale[u] for n, u in parts)
    else:
        raise InputError(f"keep_alive must be a duration like '5m' or seconds, not {value!r}")
    if math.isnan(seconds):
        raise InputError(f"keep_alive must be a duration like '5m' or seconds, not {value!r}")
    return None if seconds < 0 or seconds > MAX_KEEP_ALIVE else seconds


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerSettings:
    """What ``edgewise serve`` runs with; every field has a safe default."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    model: str | None = None  # the default model (None: bundled.default_model())
    api_key: str | None = None  # required as "Authorization: Bearer KEY" when set
    cors: tuple[str, ...] = ()  # allowed browser origins; none = no CORS headers at all
    max_queue: int = 64  # waiting requests per model before 429
    timeout: float = 300.0  # seconds per request, queueing included
    memory_budget: int = field(default_factory=default_memory_budget)  # bytes for loaded models
    keep_alive: float = DEFAULT_KEEP_ALIVE
    max_body: int = 2 * 1024 * 1024  # bytes of request body
    n_ctx: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.max_queue < 0:
            raise InputError("max_queue must be 0 or more")
        if self.timeout <= 0:
            raise InputError("timeout must be positive")
        if self.memory_budget <= 0:
            raise InputError("memory_budget must be positive")
        if self.max_body <= 0:
            raise InputError("max_body must be positive")
        if self.api_key is not None and not self.api_key.strip():
            raise InputError("api_key must not be empty")

    def check_bind(self) -> None:
        """Refuse to listen beyond this machine without an API key."""
        if not is_loopback(self.host) and not self.api_key:
            raise InputError(
                f"binding {self.host} exposes the server to the network: give --api-key KEY "
                "(clients then send 'Authorization: Bearer KEY'), or bind 127.0.0.1"
            )
