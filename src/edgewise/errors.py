"""Exceptions raised by edgewise.

Every error a user can cause derives from one root, so callers (the CLI, the server) can
catch it once and turn it into a one-line message or a 4xx response::

    EdgewiseError
    ├── ModelNotFoundError          unknown model name or missing file
    ├── ModelLoadError              a file that is not a loadable GGUF (bad magic, truncated, ...)
    ├── ContextLengthExceededError  prompt longer than the context window
    ├── InvalidOptionsError         unknown or out-of-range generation options
    ├── UnsupportedSchemaError      a JSON Schema the grammar cannot express
    ├── SchemaValidationError       output that did not validate after the re-asks
    ├── CapabilityError             the engine cannot do this (e.g. chat on a base model)
    │   └── UnsupportedArchitectureError  a model architecture a converter cannot handle
    ├── InputError                  empty prompt, undecodable input, bad files
    │   ├── UnknownTaskError        a task name no surface runs (batch, the task registry)
    │   ├── ProfileNotFoundError    no profile of that name in EDGEWISE_HOME
    │   └── CorruptProfileError     a profile file that cannot be read (named; never recreated)
    ├── PartialFailure              a batch finished but some records were skipped (exit 3)
    ├── MissingExtraError           an optional extra is not installed
    ├── DownloadError               a download could not be made (offline, HTTP error)
    │   └── ChecksumMismatchError   a downloaded file is not the catalogued one (sha256)
    └── InsufficientDiskSpaceError  not enough free disk space for a download or an assembly
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class EdgewiseError(Exception):
    """Root of all errors that edgewise raises for a user's input or environment."""

    exit_code = 1  # the CLI's exit status for this error


class PartialFailure(EdgewiseError):
    """A batch finished, but some records could not be processed (each one says why)."""

    exit_code = 3

    def __init__(self, failed: int, total: int, what: str = "items") -> None:
        self.failed, self.total = failed, total
        super().__init__(f"{failed} of {total} {what} could not be processed (see their error)")


class ModelNotFoundError(EdgewiseError):
    """A model name that is neither in the catalog, nor registered, nor a path."""

    def __init__(self, name: str, known: Sequence[str], hint: str | None = None) -> None:
        self.name = name
        self.known = list(known)
        listing = ", ".join(self.known) if self.known else "(none)"
        hint = hint or (
            "run `edgewise models` to list them, or `edgewise models add PATH` "
            "to register a GGUF file you already have"
        )
        super().__init__(f"unknown model {name!r}; known models: {listing}; {hint}")


class ModelLoadError(EdgewiseError):
    """A model file that exists but cannot be loaded."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot load model {path}: {reason}")


class ContextLengthExceededError(EdgewiseError):
    """The prompt does not fit in the context window."""

    def __init__(self, tokens: int, n_ctx: int) -> None:
        self.tokens = tokens
        self.n_ctx = n_ctx
        super().__init__(
            f"prompt is {tokens} tokens but the context window holds {n_ctx}; "
            "shorten the input or use a larger context (n_ctx, or EDGEWISE_N_CTX)"
        )


class InvalidOptionsError(EdgewiseError):
    """Generation options that are unknown or out of range."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message)


class UnsupportedSchemaError(EdgewiseError):
    """A JSON Schema that constrained decoding cannot enforce."""

    def __init__(self, message: str, path: str = "#") -> None:
        self.path = path
        super().__init__(f"unsupported JSON Schema at {path}: {message}")


class SchemaValidationError(EdgewiseError):
    """Model output that failed schema validation after all attempts."""

    def __init__(self, errors: list[str], raw_text: str, attempts: int) -> None:
        self.errors = errors
        self.raw_text = raw_text
        self.attempts = attempts
        first = errors[0] if errors else "unknown error"
        super().__init__(f"output did not validate after {attempts} attempt(s): {first}")


class CapabilityError(EdgewiseError):
    """The engine or model cannot perform the requested operation."""


class InputError(EdgewiseError):
    """Input that cannot be processed: empty, undecodable, malformed."""


class UnknownTaskError(InputError):
    """A task name that is not in the task registry (``edgewise.tasks.registry``)."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(f"unknown task {name!r}; known tasks: {', '.join(self.known)}")


class ProfileNotFoundError(InputError):
    """A profile name with no file in EDGEWISE_HOME/profiles."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        listing = ", ".join(self.known) if self.known else "(none)"
        super().__init__(
            f"no profile {name!r}; known profiles: {listing}; "
            f"create it with `edgewise profile create {name}`"
        )


class CorruptProfileError(InputError):
    """A profile file that is not a readable edgewise profile; it is left as it is."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"profile file {path} cannot be read ({reason}); it was left untouched: "
            "restore it from a backup or an export, or delete it"
        )


class MissingExtraError(EdgewiseError):
    """An optional dependency is not installed."""

    def __init__(self, extra: str, package: str, feature: str) -> None:
        self.extra = extra
        self.package = package
        super().__init__(
            f"{feature} needs the {package!r} package: pip install 'edgewise[{extra}]'"
        )


class UnsupportedArchitectureError(CapabilityError):
    """A model whose architecture a conversion (such as the ONNX export) does not handle."""

    def __init__(self, architecture: str, supported: Sequence[str], what: str) -> None:
        self.architecture = architecture
        self.supported = list(supported)
        super().__init__(
            f"{what} does not support the {architecture!r} architecture "
            f"(supported: {', '.join(self.supported)})"
        )


class DownloadError(EdgewiseError):
    """A download that could not be made or completed (network, HTTP status, bad file)."""

    def __init__(self, message: str, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class ChecksumMismatchError(DownloadError):
    """A downloaded file whose sha256 differs from the catalogued one (the file is deleted)."""

    def __init__(self, path: str, url: str, expected: str, actual: str) -> None:
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"sha256 mismatch for {path} from {url}: expected {expected}, got {actual}; "
            "the download was deleted, run the command again to fetch it anew "
            "(or check EDGEWISE_MIRROR)",
            url,
        )


class InsufficientDiskSpaceError(EdgewiseError):
    """Not enough free space in the target folder for a download or an assembled model."""

    def __init__(self, path: str, needed: int, free: int, what: str = "the download") -> None:
        self.path, self.needed, self.free = path, needed, free
        super().__init__(
            f"not enough disk space in {path}: {what} needs {_size(needed)}, "
            f"{_size(free)} is free; free some space or set EDGEWISE_HOME to another disk"
        )


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def parse_problem(exc: BaseException) -> str:
    """One line saying where and what a parse error of a YAML, TOML or JSON file is."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    mark = getattr(exc, "problem_mark", None)  # YAML: where, then what
    problem = getattr(exc, "problem", None)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem or 'cannot be read'}"
    text = str(exc)
    return text.splitlines()[0] if text else (problem or type(exc).__name__)


def check_unicode(text: str, what: str = "the text", *, position: bool = True) -> str:
    """``text`` if it can be written as UTF-8. Python keeps undecodable bytes (of arguments,
    stdin, file names) as lone surrogates, and JSON's "\\ud800" escape makes one; either would
    fail later, in the tokenizer or on output, with a traceback."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        at = f" at character {exc.start + 1}" if position else ""
        raise InputError(
            f"{what} is not valid Unicode: U+{code:04X}{at} "
            "(a lone surrogate, or a byte that is not UTF-8)"
        ) from None
    return text
