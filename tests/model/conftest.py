from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import edgewise


@pytest.fixture(scope="session")
def engine():
    """The real embedded SmolLM2-135M, loaded once for the session."""
    eng = edgewise.load("smollm2-135m")
    yield eng
    eng.close()


GREEDY = {"temperature": 0.0, "max_tokens": 24}


@pytest.fixture(scope="session")
def qwen15(tmp_path_factory: pytest.TempPathFactory):
    """Qwen2.5-Coder-1.5B (the default model with the test extra), assembled once from its PyPI
    parts into a session home and loaded once: for tests about answer quality."""
    home = tmp_path_factory.mktemp("qwen-home")
    with pytest.MonkeyPatch.context() as mp:  # session fixtures run outside a test's monkeypatch
        mp.setenv("EDGEWISE_HOME", str(home))
        eng = edgewise.load("qwen2.5-coder-1.5b")
    yield eng
    eng.close()


# ------------------------------------------------------------------ the ONNX route
# Shared by test_onnx.py and test_engine_contract.py: the export costs ~40 s, made once.
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
