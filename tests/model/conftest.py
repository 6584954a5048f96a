from __future__ import annotations

import pytest

import edgewise


@pytest.fixture(scope="session")
def engine():
    """The real embedded SmolLM2-135M, loaded once for the session."""
    eng = edgewise.load("smollm2-135m")
    yield eng
    eng.close()


GREEDY = {"temperature": 0.0, "max_tokens": 24}
