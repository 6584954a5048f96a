"""Write docs/cli.md: every command's ``--help``, from the click command tree.

Run ``python docs/gen_cli.py`` after changing a command, an option or a help text;
``--check`` only says whether docs/cli.md is current (exit status 1 if not).
tests/unit/test_docs.py fails when the file is out of date.

The help is rendered through click's own API (a Context per command, ``get_help``) at a fixed
width, so the page does not depend on the terminal it was made in.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"
WIDTH = 78  # what click prints in a terminal of 80 columns or more

HEADER = """\
# CLI reference

Generated from the commands' `--help` by `python docs/gen_cli.py`; do not edit it by hand
(tests/unit/test_docs.py fails when it is out of date). Exit statuses: 0 done, 1 an error
(`error: ...` on stderr), 2 bad usage, 3 some records could not be processed, 130 Ctrl-C,
143 SIGTERM.
"""


def commands(
    command: click.Command, name: str, parent: click.Context | None = None
) -> Iterator[tuple[click.Context, click.Command]]:
    """Every visible command under ``command``, depth first, each with its context."""
    settings = {**command.context_settings, "terminal_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx, command
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not child.hidden:
                yield from commands(child, sub, ctx)


def anchor(path: str) -> str:
    return path.replace(" ", "-")


def render() -> str:
    """The text of docs/cli.md."""
    from edgewise.cli.main import cli

    found = list(commands(cli, "edgewise"))
    parts = [HEADER]
    parts += [f"- [`{ctx.command_path}`](#{anchor(ctx.command_path)})" for ctx, _ in found]
    for ctx, command in found:
        parts += ["", f"## {ctx.command_path}", "", "```text", command.get_help(ctx), "```"]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python docs/gen_cli.py")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))  # the commands of this checkout, not an installed copy
    sys.exit(main(sys.argv[1:]))
