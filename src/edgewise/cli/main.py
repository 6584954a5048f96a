"""The ``edgewise`` command: a group of thin shells over the library.

Errors a user can cause (EdgewiseError) become one line on stderr and exit status 1; usage
errors exit 2 (click); output that cannot be written (a full disk) is one line and exit 1.
Ctrl-C exits 130 and SIGTERM 143, both through the same unwinding, so no partial output file
is left behind. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Any

import click

from edgewise import __version__
from edgewise.cli.io import drop_stdout
from edgewise.errors import EdgewiseError


class EdgewiseGroup(click.Group):
    """Turns EdgewiseError into ``error: ...`` and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            out = super().invoke(ctx)
            sys.stdout.flush()  # a full disk shows here, not as a message at interpreter exit
            return out
        except EdgewiseError as exc:
            if os.environ.get("EDGEWISE_RAISE_ERRORS") == "1":
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # the reader went away (e.g. `| head`); not an error worth a traceback
            sys.stderr.close()
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:
            if exc.errno not in WRITE_ERRORS:
                raise
            drop_stdout()
            click.echo(f"error: cannot write the output: {exc.strerror}", err=True)
            ctx.exit(1)


WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C does (temporary files removed), then exits 143."""
    click.echo("terminated", err=True)
    raise SystemExit(128 + signum)


@click.group(cls=EdgewiseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="edgewise")
def cli() -> None:
    """Small language models as on-device app features: run, classify, extract, serve."""


def _register() -> None:
    from edgewise.cli import (
        batch,
        bench,
        converse,
        export,
        hub,
        models,
        personal,
        run,
        serve,
        tasks,
        voice,
    )

    cli.add_command(run.run)
    cli.add_command(run.chat)
    cli.add_command(models.models)
    cli.add_command(tasks.classify)
    cli.add_command(tasks.route)
    cli.add_command(tasks.triage)
    cli.add_command(converse.converse)
    cli.add_command(tasks.extract)
    cli.add_command(tasks.summarize)
    cli.add_command(bench.bench)
    cli.add_command(export.export)
    cli.add_command(hub.pull)
    cli.add_command(hub.recommend)
    cli.add_command(hub.quantize)
    cli.add_command(batch.batch)
    cli.add_command(serve.serve)
    cli.add_command(voice.transcribe)
    cli.add_command(voice.voice_note)
    cli.add_command(personal.profile)
    cli.add_command(personal.feedback)
    cli.add_command(personal.compose)
    cli.add_command(personal.rewrite)


_register()


# options whose value is a file name, which may be in any encoding
PATH_OPTIONS = {
    "--jsonl", "--json", "--html", "--input", "-i", "--output", "-o", "--out", "--data",
    "--schema", "--rules", "-r", "--descriptions", "--examples",
}  # fmt: skip


def _check_arguments(args: list[str]) -> None:
    """Every argument that is not a file's name must be UTF-8: Python keeps other bytes as
    lone surrogates, which fail later in the tokenizer or on output."""
    for i, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            named = i > 0 and args[i - 1] in PATH_OPTIONS or arg.split("=")[0] in PATH_OPTIONS
            if named or os.path.lexists(arg):  # a file name in another encoding
                continue
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            click.echo(f"error: the argument '{shown}' is not UTF-8 text", err=True)
            sys.exit(1)


def main() -> None:
    _check_arguments(sys.argv[1:])
    signal.signal(signal.SIGTERM, _terminate)  # uvicorn (`serve`) shuts down first, then calls it
    cli(prog_name="edgewise")


if __name__ == "__main__":
    main()
