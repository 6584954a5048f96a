"""``edgewise serve``: the local server (OpenAI + Ollama APIs, task endpoints, playground)."""

from __future__ import annotations

import click

from edgewise.cli.common import status
from edgewise.server.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServerSettings,
    default_memory_budget,
    parse_keep_alive,
    parse_size,
)


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "-m",
    "--model",
    default=None,
    metavar="MODEL",
    help="Default model, loaded at start (catalog name, registered name or GGUF path; "
    "default: EDGEWISE_MODEL, else the strongest installed; see `edgewise models`). Requests may name other catalog/registered models.",
)
@click.option(
    "--api-key",
    envvar="EDGEWISE_API_KEY",
    default=None,
    help="Require 'Authorization: Bearer KEY' (needed to bind beyond 127.0.0.1). "
    "Also read from EDGEWISE_API_KEY.",
)
@click.option(
    "--cors",
    multiple=True,
    metavar="ORIGIN",
    help="Allow browser calls from ORIGIN (repeatable); CORS is off otherwise.",
)
@click.option(
    "--max-queue",
    type=click.IntRange(min=0),
    default=64,
    show_default=True,
    help="Requests that may wait per model; more get 429 with Retry-After.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds per request, waiting included; a generation past it is stopped.",
)
@click.option(
    "--memory-budget",
    default=None,
    metavar="SIZE",
    help="Memory for loaded models, e.g. 2G (default: half the RAM); least recently "
    "used models are unloaded to make room.",
)
@click.option(
    "--keep-alive",
    default="5m",
    show_default=True,
    help="How long an idle model stays loaded (not the --model one), e.g. 30s, 5m, -1.",
)
@click.option(
    "--max-body",
    default="2M",
    show_default=True,
    metavar="SIZE",
    help="Largest request body accepted (413 beyond).",
)
@click.option("--n-ctx", type=click.IntRange(min=16), default=None, help="Context window.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads per model.")
def serve(
    host: str,
    port: int,
    model: str | None,
    api_key: str | None,
    cors: tuple[str, ...],
    max_queue: int,
    timeout: float,
    memory_budget: str | None,
    keep_alive: str,
    max_body: str,
    n_ctx: int | None,
    threads: int | None,
) -> None:
    """Serve models over HTTP: OpenAI (/v1/...), Ollama (/api/...), tasks and a playground."""
    from edgewise.server import serve as run_server

    keep = parse_keep_alive(keep_alive)
    settings = ServerSettings(
        host=host,
        port=port,
        model=model,
        api_key=api_key,
        cors=tuple(cors),
        max_queue=max_queue,
        timeout=timeout,
        memory_budget=parse_size(memory_budget) if memory_budget else default_memory_budget(),
        keep_alive=float("inf") if keep is None else keep,
        max_body=parse_size(max_body),
        n_ctx=n_ctx,
        threads=threads,
    )
    settings.check_bind()  # before loading anything
    run_server(
        settings,
        ready=lambda url: status(
            f"edgewise serve: loading the model, then serving {url} (page: {url}/)"
        ),
    )
