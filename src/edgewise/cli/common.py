"""Options and helpers shared by CLI commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from edgewise.errors import InputError
from edgewise.types import GenerationOptions

if TYPE_CHECKING:
    from edgewise.engines.base import Engine

F = TypeVar("F", bound=Callable[..., Any])


def load_engine(model: str | None, **kwargs: Any) -> Engine:
    """The one place a CLI command loads a model (``edgewise.resolver.load``).

    Commands call it as ``common.load_engine`` at the moment they need the model, after their
    input and option files are checked, so a bad file fails before a model loads; tests
    replace this one function to run every command on a FakeEngine."""
    from edgewise.resolver import load

    return load(model, **kwargs)


def model_option(f: F) -> F:
    return click.option(
        "-m",
        "--model",
        default=None,
        metavar="MODEL",
        help="Catalog name, registered name or GGUF path (default: EDGEWISE_MODEL, else the "
        "strongest model installed; see `edgewise models`).",
    )(f)


def _desc(name: str) -> str:
    return GenerationOptions.model_fields[name].description or ""


def generation_options(f: F) -> F:
    """Click options generated from GenerationOptions, so help texts stay in one place."""
    opts = [
        click.option("--max-tokens", type=int, default=None, help=_desc("max_tokens")),
        click.option("--temperature", "-t", type=float, default=None, help=_desc("temperature")),
        click.option("--top-p", type=float, default=None, help=_desc("top_p")),
        click.option("--top-k", type=int, default=None, help=_desc("top_k")),
        click.option("--seed", type=int, default=None, help=_desc("seed")),
        click.option("--stop", multiple=True, help=_desc("stop") + " Repeatable."),
        click.option("--repeat-penalty", type=float, default=None, help=_desc("repeat_penalty")),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_options(kw: dict[str, Any]) -> GenerationOptions:
    """Pop the generation options out of a command's keywords and validate them."""
    names = ["max_tokens", "temperature", "top_p", "top_k", "seed", "repeat_penalty"]
    data = {n: v for n in names if (v := kw.pop(n)) is not None}
    stop = kw.pop("stop", ())
    if stop:
        data["stop"] = list(stop)
    return GenerationOptions.parse(data)


def check_utf8(text: str, what: str) -> str:
    """``text`` if it is valid UTF-8; Python keeps undecodable bytes of arguments and stdin
    as lone surrogates, which would fail later with a traceback."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (invalid byte at {exc.start})") from None
    return text


def read_text_arg(value: str) -> str:
    """A prompt argument: the text itself, or stdin when it is ``-``."""
    if value != "-":
        return check_utf8(value, "the text argument")
    data = sys.stdin.buffer.read()
    _not_binary(data, "standard input")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"standard input is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def _not_binary(data: bytes, where: str) -> None:
    """Text has no NUL bytes; a PDF, an image or an archive does (even one that decodes)."""
    if b"\0" in data:
        raise InputError(f"{where} is not text (a NUL byte at {data.index(0)}): a binary file?")


def read_file_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    _not_binary(data, path)
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is not text
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def status(message: str) -> None:
    """Progress and status go to stderr; results go to stdout."""
    click.echo(message, err=True)
