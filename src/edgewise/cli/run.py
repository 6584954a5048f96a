"""``edgewise run`` and ``edgewise chat``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from edgewise.cli import common
from edgewise.cli.common import (
    build_options,
    generation_options,
    model_option,
    read_file_text,
    read_text_arg,
    status,
)
from edgewise.errors import ContextLengthExceededError, InputError
from edgewise.types import Chunk, Message


@click.command()
@model_option
@generation_options
@click.option("--system", "-s", default=None, help="System prompt (chat models).")
@click.option(
    "--raw", is_flag=True, help="Send the prompt as plain text, without the chat template."
)
@click.option(
    "--schema",
    "schema_file",
    default=None,
    metavar="FILE",
    help="Constrain the output to this JSON Schema (a .json file).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object: text, usage, timings."
)
@click.option(
    "--n-ctx", type=click.IntRange(min=16), default=None, help="Context window in tokens."
)
@click.argument("prompt")
def run(
    model: str | None,
    system: str | None,
    raw: bool,
    schema_file: str | None,
    as_json: bool,
    n_ctx: int | None,
    prompt: str,
    **kw: Any,
) -> None:
    """Generate a reply to PROMPT, streamed to stdout (PROMPT '-' reads stdin)."""
    opts = build_options(kw)
    text = read_text_arg(prompt)
    if not text.strip():
        raise InputError("empty prompt: give some text (or '-' to read standard input)")
    schema = None
    if schema_file is not None:
        try:
            schema = json.loads(read_file_text(schema_file))
        except ValueError as exc:
            raise InputError(f"{schema_file} is not valid JSON: {exc}") from None
    engine = common.load_engine(model, n_ctx=n_ctx)
    try:
        if raw or not engine.chat_mode:
            if system:
                raise InputError(
                    "--system needs a chat model (this one runs in plain completion mode)"
                )
            the_prompt: Any = text
        else:
            msgs = [Message(role="system", content=system)] if system else []
            the_prompt = [*msgs, Message(role="user", content=text)]
        parts: list[str] = []
        last: Chunk | None = None
        for chunk in engine.stream(the_prompt, opts, schema=schema):
            if not as_json and chunk.text:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            parts.append(chunk.text)
            last = chunk
        assert last is not None and last.usage is not None and last.timings is not None
        if as_json:
            tps = (
                (last.usage.completion_tokens / (last.timings.decode_ms / 1000))
                if last.timings.decode_ms
                else 0.0
            )
            click.echo(
                json.dumps(
                    {
                        "model": engine.name,
                        "text": "".join(parts),
                        "finish_reason": last.finish_reason,
                        "usage": {
                            **last.usage.model_dump(),
                            "total_tokens": last.usage.total_tokens,
                        },
                        "timings": {
                            **last.timings.model_dump(),
                            "total_ms": last.timings.total_ms,
                            "tokens_per_second": round(tps, 2),
                        },
                    },
                    ensure_ascii=False,
                )
            )
        else:
            sys.stdout.write("\n")
            if not engine.chat_mode and not raw:
                status(f"({engine.name} has no chat template: ran in plain completion mode)")
    finally:
        engine.close()


@click.command()
@model_option
@generation_options
@click.option("--system", "-s", default=None, help="System prompt.")
@click.option(
    "--n-ctx", type=click.IntRange(min=16), default=None, help="Context window in tokens."
)
def chat(model: str | None, system: str | None, n_ctx: int | None, **kw: Any) -> None:
    """Chat interactively; an empty line or Ctrl-D ends, /reset forgets the conversation."""
    opts = build_options(kw)
    engine = common.load_engine(model, n_ctx=n_ctx)
    try:
        if not engine.chat_mode:
            status(
                f"{engine.name} has no chat template: plain completion mode (User:/Assistant: lines)"
            )
        history: list[Message] = [Message(role="system", content=system)] if system else []
        status(f"chatting with {engine.name}; empty line or Ctrl-D to quit, /reset to start over")
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                click.echo("> ", nl=False, err=True)
            try:
                line = sys.stdin.readline()
            except UnicodeDecodeError as exc:
                raise InputError(f"input is not UTF-8 text ({exc.reason})") from None
            if not line or not line.strip():
                break
            if line.strip() == "/reset":
                history = history[:1] if system else []
                continue
            history.append(Message(role="user", content=line.rstrip("\n")))
            stop = list(opts.stop) + ([] if engine.chat_mode else ["\nUser:"])
            reply: list[str] = []
            while True:
                try:
                    chunks = engine.stream(history, opts.model_copy(update={"stop": stop}))
                    break
                except ContextLengthExceededError:
                    # forget the oldest exchange (keeping the system prompt) and try again
                    first = 1 if system else 0
                    if len(history) - first <= 1:
                        raise
                    del history[first : first + 2]
                    status("(conversation too long for the context window: oldest turn dropped)")
            for chunk in chunks:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
                reply.append(chunk.text)
            sys.stdout.write("\n")
            history.append(Message(role="assistant", content="".join(reply).strip()))
    finally:
        engine.close()
