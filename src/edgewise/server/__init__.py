"""The local server: OpenAI- and Ollama-compatible APIs, task endpoints and a playground.

Needs the ``serve`` extra (``pip install 'edgewise[serve]'``: FastAPI and uvicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgewise.errors import MissingExtraError

if TYPE_CHECKING:
    from edgewise.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "serve"]


def _check() -> None:
    import importlib.util

    for module, package in (("fastapi", "fastapi"), ("uvicorn", "uvicorn")):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("serve", package, "edgewise serve")


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See ``edgewise.server.app.create_app``."""
    _check()
    from edgewise.server.app import create_app as _create

    return _create(*args, **kwargs)


def serve(*args: Any, **kwargs: Any) -> None:
    """See ``edgewise.server.app.serve``."""
    _check()
    from edgewise.server.app import serve as _serve

    _serve(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "ServerSettings":
        from edgewise.server.settings import ServerSettings

        return ServerSettings
    raise AttributeError(name)
