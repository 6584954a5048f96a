"""``edgewise converse`` on the FakeEngine: the result, JSON lines, ends of input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgewise.cli import common
from edgewise.cli.main import cli

from .helpers import SCRIPT, write


@pytest.fixture
def cli_engine(monkeypatch, engine):
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: engine)
    return engine


def _script_file(tmp_path: Path) -> Path:
    return write(tmp_path, json.dumps(SCRIPT), "repair.yaml")  # JSON is YAML


def test_cli_runs_a_conversation_and_prints_the_result(tmp_path, cli_engine):
    cli_engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    result = CliRunner().invoke(
        cli,
        ["converse", str(_script_file(tmp_path))],
        input="oven 2025-03-14 Hauptstraße 5\n\nno\nyes\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "appliance": "oven",
        "date": "2025-03-14",
        "address": "Hauptstraße 5",
    }
    assert "Which appliance?" in result.stderr and "empty reply" in result.stderr
    assert "Booked for 2025-03-14." in result.stderr


def test_cli_json_lines(tmp_path, cli_engine):
    result = CliRunner().invoke(
        cli, ["converse", "--json", str(_script_file(tmp_path))], input="cancel\n"
    )
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"message": "Which appliance?", "state": "asking", "asking": "appliance"}
    assert lines[-1]["state"] == "cancelled" and lines[-1]["result"] is None


def test_cli_end_of_input_is_one_line_and_non_zero(tmp_path, cli_engine):
    result = CliRunner().invoke(cli, ["converse", str(_script_file(tmp_path))], input="")
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: input ended before") and "3 required slots still empty" in last
    assert result.stdout == ""
    cli_engine.enqueue({"appliance": "oven", "date": "2025-03-14", "address": "Hauptstraße 5"})
    lines = "oven, 2025-03-14, Hauptstraße 5\nnein\n"  # to the summary, then the input ends
    result = CliRunner().invoke(cli, ["converse", str(_script_file(tmp_path))], input=lines)
    assert result.exit_code == 1 and "the summary was not confirmed" in result.stderr


def test_cli_bad_script_fails_before_loading_a_model(tmp_path, monkeypatch):
    def no_model(model, **kw):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(common, "load_engine", no_model)
    path = write(tmp_path, "goal: g\nslots: {a: {schema: {type: string}, prompt: q}}\n")
    result = CliRunner().invoke(cli, ["converse", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {path}: confirmation: Field required"
    result = CliRunner().invoke(cli, ["converse", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1
