"""Server-side errors and the one table that maps error TYPES to HTTP status codes.

Bodies take the shape of the API a route mimics: OpenAI's ``{"error": {"message", "type",
"param", "code"}}`` for ``/v1/...`` and everything else, Ollama's ``{"error": "..."}`` for
``/api/...``.
"""

from __future__ import annotations

from typing import Any

from edgewise.errors import (
    CapabilityError,
    ContextLengthExceededError,
    EdgewiseError,
    InputError,
    InvalidOptionsError,
    MissingExtraError,
    ModelLoadError,
    ModelNotFoundError,
    SchemaValidationError,
    UnsupportedSchemaError,
)


class ServerError(EdgewiseError):
    """An error the server raises about a request (not about the model's input)."""


class QueueFullError(ServerError):
    """The model's queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, model: str, depth: int, retry_after: int) -> None:
        self.model, self.depth, self.retry_after = model, depth, retry_after
        super().__init__(
            f"{model} is busy: {depth} requests are already waiting; retry in {retry_after} s"
        )


class RequestTimeoutError(ServerError):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"the request did not finish within {seconds:g} s (the server's --timeout); "
            "ask for fewer tokens or raise --timeout"
        )


class ClientGoneError(ServerError):
    """The client disconnected before its request was served (nothing can be sent back)."""

    def __init__(self) -> None:
        super().__init__("the client closed the connection")


class MemoryBudgetError(ServerError):
    def __init__(self, model: str, needed: int, budget: int, busy: list[str]) -> None:
        self.model, self.needed, self.budget = model, needed, budget
        why = f" (busy and not unloadable: {', '.join(busy)})" if busy else ""
        super().__init__(
            f"cannot load {model}: it needs about {needed / 1e6:.0f} MB and the memory budget is "
            f"{budget / 1e6:.0f} MB{why}; raise --memory-budget or retry when a model is idle"
        )


class UnauthorizedError(ServerError):
    def __init__(self) -> None:
        super().__init__("missing or wrong API key: send 'Authorization: Bearer KEY'")


class BodyTooLargeError(ServerError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body is larger than the server's limit of {limit} bytes")


class RouteNotFoundError(ServerError):
    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"no route {method} {path}")


class MethodNotAllowedError(ServerError):
    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"{path} does not accept {method}")


# Checked in order; the first class the error is an instance of wins (subclasses first).
STATUS: tuple[tuple[type[BaseException], int, str, str], ...] = (
    # (type, HTTP status, OpenAI error type, OpenAI code)
    (ContextLengthExceededError, 400, "invalid_request_error", "context_length_exceeded"),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (InvalidOptionsError, 400, "invalid_request_error", "invalid_value"),
    (UnsupportedSchemaError, 400, "invalid_request_error", "unsupported_schema"),
    (SchemaValidationError, 422, "invalid_request_error", "schema_validation_failed"),
    (CapabilityError, 400, "invalid_request_error", "unsupported"),
    (InputError, 400, "invalid_request_error", "invalid_value"),
    (QueueFullError, 429, "rate_limit_error", "queue_full"),
    (RequestTimeoutError, 504, "timeout_error", "timeout"),
    (MemoryBudgetError, 503, "server_error", "memory_budget"),
    (ClientGoneError, 499, "invalid_request_error", "client_closed_request"),
    (UnauthorizedError, 401, "authentication_error", "invalid_api_key"),
    (BodyTooLargeError, 413, "invalid_request_error", "body_too_large"),
    (RouteNotFoundError, 404, "invalid_request_error", "not_found"),
    (MethodNotAllowedError, 405, "invalid_request_error", "method_not_allowed"),
    (MissingExtraError, 501, "server_error", "missing_extra"),
    (ModelLoadError, 500, "server_error", "model_load_failed"),
    (EdgewiseError, 400, "invalid_request_error", "invalid_request"),
)


def classify_error(exc: BaseException) -> tuple[int, str, str]:
    for cls, status, kind, code in STATUS:
        if isinstance(exc, cls):
            return status, kind, code
    return 500, "server_error", "internal_error"


def is_ollama_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def error_body(
    path: str, message: str, kind: str, code: str, param: str | None = None
) -> dict[str, Any]:
    """The error body in the shape of the API ``path`` belongs to."""
    if is_ollama_path(path):
        return {"error": message}
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_payload(path: str, exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body (in the API's shape) and headers for an exception."""
    status, kind, code = classify_error(exc)
    if status >= 500 and code == "internal_error":
        message = f"internal error ({type(exc).__name__}); the server logged the details"
    else:
        message = str(exc)
    return status, error_body(path, message, kind, code), headers_for(exc)


def headers_for(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, QueueFullError):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, UnauthorizedError):
        return {"WWW-Authenticate": "Bearer"}
    return {}
