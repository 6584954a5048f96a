"""The CLI reference (docs/cli.md) is the commands' own --help, regenerated and compared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from click.testing import CliRunner

from edgewise.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current():
    expected = gen_cli().render()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == expected, "docs/cli.md is out of date: run python docs/gen_cli.py"


def test_cli_reference_is_what_help_prints():
    gen = gen_cli()
    found = list(gen.commands(cli, "edgewise"))
    assert len(found) > 30 and all(" " not in ctx.info_name for ctx, _ in found)
    for ctx, command in found:
        args = [*ctx.command_path.split()[1:], "--help"]
        result = CliRunner().invoke(cli, args, prog_name="edgewise", terminal_width=gen.WIDTH)
        assert result.exit_code == 0, args
        assert result.output == command.get_help(ctx) + "\n", args
