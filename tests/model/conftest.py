"""The model tier's session models, loaded once and shared by every area under tests/model.

Fixtures one area alone uses live in that area's conftest.py (the ONNX export in engines/, the
server in server/); tests/conftest.py marks everything under this folder ``model``."""

from __future__ import annotations

import pytest

import edgewise


@pytest.fixture(scope="session")
def engine():
    """The real embedded SmolLM2-135M, loaded once for the session."""
    eng = edgewise.load("smollm2-135m")
    yield eng
    eng.close()


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
