"""``edgewise serve`` on the real bundled model: one uvicorn server over a real socket for
the session, shared by every module here, and the official openai and ollama clients
that drive it."""

from __future__ import annotations

import ollama
import openai
import pytest

from edgewise.server.app import BackgroundServer, create_app
from edgewise.server.settings import ServerSettings


@pytest.fixture(scope="session")
def server(engine):
    app = create_app(ServerSettings(timeout=120), engine=engine)
    with BackgroundServer(app) as url:
        yield url, app


@pytest.fixture(scope="session")
def url(server):
    return server[0]


@pytest.fixture(scope="session")
def pool(server):
    return server[1].state.edgewise.pool


@pytest.fixture(scope="session")
def oai(url):
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    yield client
    client.close()


@pytest.fixture(scope="session")
def oll(url):
    client = ollama.Client(host=url)
    yield client
    client._client.close()
