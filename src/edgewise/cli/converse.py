"""``edgewise converse SCRIPT``: a guided conversation in the terminal (edgewise.tasks.converse).

The assistant's messages go to stderr and the validated result, as JSON, to stdout, so
``edgewise converse repair.yaml > booking.json`` keeps the conversation on the screen. With
``--json`` every turn is a JSON line on stdout instead (for driving it from another program).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from edgewise.cli import common
from edgewise.cli.common import check_utf8, model_option
from edgewise.errors import InputError


def _read_line(stdin: Any, interactive: bool) -> str | None:
    """One line from stdin without its newline; None at end of input."""
    if interactive:
        click.echo("> ", nl=False, err=True)
    try:
        line = stdin.readline()
    except UnicodeDecodeError as exc:
        raise InputError(f"standard input is not UTF-8 text ({exc.reason})") from None
    return None if line == "" else check_utf8(line.rstrip("\r\n"), "standard input")


@click.command()
@model_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write every turn as a JSON line on stdout (message, state, slots, missing, result).",
)
@click.argument("script", metavar="SCRIPT")
def converse(model: str | None, as_json: bool, script: str) -> None:
    """Run the guided conversation of SCRIPT (YAML), reading your replies from stdin.

    Type 'cancel' to stop. At the end the validated result is printed as JSON on stdout;
    exit status 1 when the conversation was cancelled or the input ended before it was done.
    """
    from edgewise.tasks.converse import Conversation, load_script

    spec = load_script(script)  # a bad script fails before the model loads
    conv = Conversation(spec, common.load_engine(model))
    stdin = sys.stdin
    interactive = not as_json and sys.stdin.isatty()

    def show(message: str, turn: dict[str, Any] | None = None) -> None:
        if as_json:
            click.echo(json.dumps({"message": message, **(turn or {})}, ensure_ascii=False))
        else:
            click.echo(message, err=True)

    first = conv.start()
    show(first, {"state": conv.state, "asking": conv.asking})
    while conv.state not in ("done", "cancelled"):
        line = _read_line(stdin, interactive)
        if line is None:
            n = len(conv.missing)
            why = (
                "the summary was not confirmed"
                if conv.state == "confirming"
                else f"{n} required slot{'' if n == 1 else 's'} still empty"
            )
            raise InputError(
                f"input ended before the conversation was done ({why}); nothing was saved"
            )
        try:
            turn = conv.reply(line)
        except InputError as exc:  # an empty line: say so and wait for an answer
            click.echo(str(exc), err=True)
            continue
        show(turn.message, turn.model_dump(exclude={"message"}))
    if conv.state == "cancelled":
        click.get_current_context().exit(1)
    if not as_json:
        click.echo(json.dumps(conv.result, ensure_ascii=False, indent=2))
