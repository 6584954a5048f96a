"""The guided-conversation tests run on a FakeEngine that answers ``{}`` unless a test
enqueues an extraction, and scores labels by whether the reply names them."""

from __future__ import annotations

import pytest

from edgewise import FakeEngine

from .helpers import tail_scorer


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(scorer=tail_scorer, default_response="{}")
