"""Fixtures of the engine tests: the ONNX export, made once for the session, and the greedy
options the llama.cpp engine tests share."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import edgewise

GREEDY = {"temperature": 0.0, "max_tokens": 24}


# ------------------------------------------------------------------ the ONNX route
# Shared by test_onnx.py and test_contract.py: the export costs ~40 s, made once.
@pytest.fixture(scope="session")
def export_run(tmp_path_factory):
    """The bundled model exported once (fp32, for exact parity) through the CLI."""
    from edgewise.cli.main import cli

    root = tmp_path_factory.mktemp("onnx-export")
    out = root / "smollm2-onnx"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEWISE_HOME", str(root / "home"))
        result = CliRunner().invoke(
            cli, ["export", "onnx", "smollm2-135m", "-o", str(out), "-p", "fp32", "--json"]
        )
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


@pytest.fixture(scope="session")
def onnx_dir(export_run):
    return export_run[0]


@pytest.fixture(scope="session")
def onnx_engine(onnx_dir):
    """The export loaded once on ONNX Runtime GenAI."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEWISE_HOME", str(onnx_dir.parent / "home"))
        eng = edgewise.load(str(onnx_dir))
    yield eng
    eng.close()
