"""The server's scheduler, memory budget, keep_alive and security, on scripted engines over a
real socket (what is about the model itself is in tests/model/server/)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from click.testing import CliRunner

from edgewise import FakeEngine
from edgewise.cli.main import cli
from edgewise.errors import InputError
from edgewise.server.app import BackgroundServer, create_app
from edgewise.server.settings import ServerSettings, parse_keep_alive, parse_size


class SlowEngine(FakeEngine):
    """A scripted engine that takes ``delay`` seconds per word and records overlap."""

    def __init__(self, delay: float = 0.05, **kw):
        super().__init__(default_response="one two three four five six", **kw)
        self.delay = delay
        self.active = 0
        self.max_active = 0
        self.words = 0
        self._lock = threading.Lock()

    def _stream(self, response, opts, n_prompt):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            for chunk in super()._stream(response, opts, n_prompt):
                time.sleep(self.delay)
                self.words += 1
                yield chunk
        finally:
            with self._lock:
                self.active -= 1


def chat(url, model="fake", **kw):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **kw}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30)


def test_one_request_at_a_time_per_model():
    eng = SlowEngine(delay=0.02)
    with BackgroundServer(create_app(ServerSettings(), engine=eng)) as url:
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            results = list(ex.map(lambda _: chat(url), range(6)))
    assert [r.status_code for r in results] == [200] * 6
    assert all(r.json()["choices"][0]["message"]["content"] for r in results)
    assert eng.max_active == 1


class GateEngine(FakeEngine):
    """A scripted engine whose generations wait until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def _stream(self, response, opts, n_prompt):
        self.gate.wait(30)
        yield from super()._stream(response, opts, n_prompt)


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_full_queue_gets_429_with_retry_after():
    eng = GateEngine()
    app = create_app(ServerSettings(max_queue=1), engine=eng)
    model = app.state.edgewise.pool.models["fake"]
    with BackgroundServer(app) as url, concurrent.futures.ThreadPoolExecutor(2) as ex:
        running = ex.submit(chat, url)
        wait_for(lambda: model.busy)
        waiting = ex.submit(chat, url)
        wait_for(lambda: model.waiting == 1)
        refused = chat(url)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limit_error"
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="fake", messages=[{"role": "user", "content": "hi"}]
            )
        client.close()
        eng.gate.set()
        assert running.result().status_code == 200
        assert waiting.result().status_code == 200
        assert chat(url).status_code == 200  # the queue drained
        metrics = httpx.get(url + "/metrics").text
        assert 'edgewise_rejected_total{model="fake",reason="queue_full"} 2' in metrics


def test_a_queued_request_whose_client_left_is_dropped():
    eng = GateEngine()
    app = create_app(ServerSettings(), engine=eng)
    model = app.state.edgewise.pool.models["fake"]
    with BackgroundServer(app) as url, concurrent.futures.ThreadPoolExecutor(1) as ex:
        running = ex.submit(chat, url)
        wait_for(lambda: model.busy)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                url + "/v1/chat/completions",
                json={"model": "fake", "messages": [{"role": "user", "content": "gone"}]},
                timeout=0.5,
            )
        wait_for(lambda: model.waiting == 0)
        eng.gate.set()
        assert running.result().status_code == 200
        assert [c["prompt"] for c in eng.calls if "gone" in c["prompt"]] == []
        metrics = httpx.get(url + "/metrics").text
        assert 'edgewise_cancelled_total{reason="disconnect_queued"} 1' in metrics


def test_timeout_stops_the_generation():
    eng = SlowEngine(delay=0.2)
    eng.default_response = " ".join(["word"] * 200)
    app = create_app(ServerSettings(timeout=1.0), engine=eng)
    pool = app.state.edgewise.pool
    with BackgroundServer(app) as url:
        r = chat(url)
        assert r.status_code == 504
        assert "timeout" in r.json()["error"]["message"]
        deadline = time.monotonic() + 10
        while pool.models["fake"].busy:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert pool.history[-1]["stopped"] == "timeout"
        assert eng.words < 200
        # streamed: the stream ends with an error event instead of running on
        with httpx.stream(
            "POST",
            url + "/v1/chat/completions",
            json={"model": "fake", "messages": [{"role": "user", "content": "x"}], "stream": True},
            timeout=30,
        ) as resp:
            text = "".join(resp.iter_text())
        assert '"code":"timeout"' in text


def test_ollama_stream_stops_when_the_client_goes_away():
    eng = SlowEngine(delay=0.05)
    eng.default_response = " ".join(["word"] * 400)
    app = create_app(ServerSettings(), engine=eng)
    pool = app.state.edgewise.pool
    with BackgroundServer(app) as url:
        body = {"model": "fake", "messages": [{"role": "user", "content": "x"}]}
        with httpx.stream("POST", url + "/api/chat", json=body, timeout=30) as resp:
            lines = resp.iter_lines()
            first = [next(lines) for _ in range(3)]
        assert all('"done":false' in line for line in first)
        deadline = time.monotonic() + 10
        while not pool.history or pool.models["fake"].busy:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert pool.history[-1]["stopped"] == "disconnect"
        assert eng.words < 400


def test_a_non_streamed_generation_stops_when_the_client_goes_away():
    # tokens arrive faster than the disconnect poll, so only a clock-driven probe sees the
    # client leave before the reply is complete
    eng = SlowEngine(delay=0.05)
    eng.default_response = " ".join(["word"] * 400)
    app = create_app(ServerSettings(), engine=eng)
    pool = app.state.edgewise.pool
    with BackgroundServer(app) as url:
        body = {"model": "fake", "messages": [{"role": "user", "content": "x"}]}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/chat/completions", json=body, timeout=0.5)
        wait_for(lambda: pool.history and not pool.models["fake"].busy)
        assert pool.history[-1]["stopped"] == "disconnect"
        assert eng.words < 400


def _gguf(path: Path, writer) -> Path:
    return writer(path, metadata={"general.name": path.stem})


def test_memory_budget_unloads_least_recently_used(tmp_path, gguf_writer):
    from edgewise import store
    from edgewise.catalog import RUNTIME_OVERHEAD

    for name in ("m1", "m2", "m3"):
        store.add(_gguf(tmp_path / f"{name}.gguf", gguf_writer), name)
    loaded = []

    def loader(resolved):
        loaded.append(resolved.name)
        return FakeEngine(name=resolved.name)

    # room for the default model and one more
    budget = int(2.5 * RUNTIME_OVERHEAD)
    app = create_app(ServerSettings(memory_budget=budget), engine=FakeEngine(), loader=loader)
    with BackgroundServer(app) as url:
        assert chat(url, "m1").status_code == 200
        assert chat(url, "m2").status_code == 200
        ps = [m["name"] for m in httpx.get(url + "/api/ps").json()["models"]]
        assert sorted(ps) == ["fake", "m2"]
        assert chat(url, "fake").status_code == 200
        assert chat(url, "m3").status_code == 200
        ps = [m["name"] for m in httpx.get(url + "/api/ps").json()["models"]]
        assert sorted(ps) == ["fake", "m3"]
        assert loaded == ["m1", "m2", "m3"]
        too_small = create_app(
            ServerSettings(memory_budget=RUNTIME_OVERHEAD // 2), engine=FakeEngine(), loader=loader
        )
        with BackgroundServer(too_small) as url2:
            r = chat(url2, "m1")
            assert r.status_code == 503 and "memory budget" in r.json()["error"]["message"]


def test_keep_alive(tmp_path, gguf_writer):
    from edgewise import store

    store.add(_gguf(tmp_path / "m1.gguf", gguf_writer), "m1")
    engines = []

    def loader(resolved):
        engines.append(FakeEngine(name=resolved.name))
        return engines[-1]

    app = create_app(ServerSettings(), engine=FakeEngine(), loader=loader)

    def names(url):
        return sorted(m["name"] for m in httpx.get(url + "/api/ps").json()["models"])

    with BackgroundServer(app) as url:
        chat_body = {"model": "m1", "messages": [{"role": "user", "content": "x"}]}
        r = httpx.post(url + "/api/chat", json={**chat_body, "stream": False, "keep_alive": 0})
        assert r.status_code == 200 and r.json()["message"]["content"] == "ok"
        deadline = time.monotonic() + 5
        while "m1" in names(url):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert engines[-1].closed
        # an empty request loads; keep_alive "1s" then expires it; 0 on the default unloads
        r = httpx.post(url + "/api/generate", json={"model": "m1", "keep_alive": "1s"})
        assert r.json()["done_reason"] == "load" and names(url) == ["fake", "m1"]
        deadline = time.monotonic() + 10
        while "m1" in names(url):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert httpx.post(url + "/api/generate", json={"model": "m1", "keep_alive": -1}).json()
        expires = httpx.get(url + "/api/ps").json()["models"]
        assert any(m["name"] == "m1" and m["expires_at"].startswith("2318") for m in expires)
        r = httpx.post(url + "/api/generate", json={"model": "m1", "keep_alive": 0})
        assert r.json()["done_reason"] == "unload" and names(url) == ["fake"]
        r = httpx.post(url + "/api/chat", json={**chat_body, "keep_alive": "soon"})
        assert r.status_code == 400 and "keep_alive" in r.json()["error"]


def test_api_key_required_and_checked():
    app = create_app(ServerSettings(api_key="s3cret"), engine=FakeEngine())
    with BackgroundServer(app) as url:
        assert httpx.get(url + "/health").status_code == 200
        assert httpx.get(url + "/").status_code == 200  # the page itself; its calls need the key
        r = httpx.get(url + "/v1/models")
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = httpx.get(url + "/api/tags", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and isinstance(r.json()["error"], str)
        client = openai.OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0)
        assert [m.id for m in client.models.list().data][0] == "fake"
        bad = openai.OpenAI(base_url=url + "/v1", api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        client.close()
        bad.close()
        import ollama

        o = ollama.Client(host=url, headers={"Authorization": "Bearer s3cret"})
        assert o.list().models[0].model == "fake"
        o._client.close()


def test_binding_beyond_loopback_needs_an_api_key():
    with pytest.raises(InputError, match="--api-key"):
        ServerSettings(host="0.0.0.0").check_bind()
    ServerSettings(host="0.0.0.0", api_key="k").check_bind()
    ServerSettings(host="::1").check_bind()
    ServerSettings(host="localhost").check_bind()
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "--api-key" in result.output and "Traceback" not in result.output


def test_serve_refuses_a_port_in_use_before_loading_anything():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1" in result.output and "Traceback" not in result.output


def test_body_limit_and_cors():
    app = create_app(ServerSettings(max_body=1000), engine=FakeEngine())
    with BackgroundServer(app) as url:
        r = chat(url, stop=["x" * 2000])
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
        r = httpx.post(
            url + "/api/chat", content=b"x" * 5000, headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and isinstance(r.json()["error"], str)

        def chunks():
            for _ in range(10):
                yield b"x" * 500

        r = httpx.post(url + "/api/chat", content=chunks())  # no Content-Length
        assert r.status_code == 413
        pre = httpx.options(
            url + "/v1/models",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in pre.headers
        assert chat(url).status_code == 200
    app = create_app(ServerSettings(cors=("http://app.example",)), engine=FakeEngine())
    with BackgroundServer(app) as url:
        pre = httpx.options(
            url + "/v1/models",
            headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert pre.headers["access-control-allow-origin"] == "http://app.example"
        other = httpx.get(url + "/v1/models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_unknown_route_and_method_in_api_shapes():
    with BackgroundServer(create_app(engine=FakeEngine())) as url:
        r = httpx.get(url + "/v1/nothing")
        assert r.status_code == 404 and isinstance(r.json()["error"], dict)
        r = httpx.get(url + "/api/nothing")
        assert r.status_code == 404 and isinstance(r.json()["error"], str)
        r = httpx.get(url + "/v1/chat/completions")
        assert r.status_code == 405


def test_ollama_routes_read_json_whatever_the_content_type():
    # Ollama's own examples are `curl URL/api/chat -d '{...}'`: form-encoded by curl's default
    with BackgroundServer(create_app(ServerSettings(), engine=FakeEngine())) as url:
        body = (
            b'{"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": false}'
        )
        form = {"content-type": "application/x-www-form-urlencoded"}
        r = httpx.post(url + "/api/chat", content=body, headers=form)
        assert r.status_code == 200, r.text
        assert r.json()["done"] is True
        bad = httpx.post(url + "/api/chat", content=b"{oops", headers=form)
        assert bad.status_code == 400
        assert "not valid JSON" in bad.json()["error"]
        # the OpenAI-shaped routes keep to JSON, and say so
        body = b'{"text": "hi", "labels": ["a", "b"]}'
        r = httpx.post(url + "/v1/classify", content=body, headers=form)
        assert r.status_code == 400
        assert "Content-Type: application/json" in r.json()["error"]["message"]


def test_capabilities_map_to_4xx():
    with BackgroundServer(create_app(engine=FakeEngine())) as url:
        r = chat(url, logprobs=True)
        assert r.status_code == 400 and "log-probabilities" in r.json()["error"]["message"]
        r = chat(url, tools=[{"type": "function", "function": {"name": "f"}}])
        assert r.status_code == 400
        r = httpx.post(url + "/v1/embeddings", json={"model": "fake", "input": [[1, 2]]})
        assert r.status_code == 400
        r = httpx.post(url + "/v1/embeddings", json={"model": "fake", "input": ["", "a"]})
        assert r.status_code == 400
        r = httpx.post(
            url + "/api/chat",
            json={"model": "fake", "messages": [{"role": "user", "content": "x", "images": ["a"]}]},
        )
        assert r.status_code == 400 and "images" in r.json()["error"]


def test_parsers():
    assert parse_size("2G") == 2 * 1024**3
    assert parse_size("512MB") == 512 * 1024**2
    assert parse_size(1000) == 1000
    with pytest.raises(InputError):
        parse_size("lots")
    assert parse_keep_alive("5m") == 300
    assert parse_keep_alive("1h30m") == 5400
    assert parse_keep_alive(0) == 0
    assert parse_keep_alive("-1") is None
    assert parse_keep_alive(-1) is None
    with pytest.raises(InputError):
        parse_keep_alive("5 minutes")
    with pytest.raises(InputError):
        parse_keep_alive("nan")
    assert parse_keep_alive("99999999999h") is None  # past any clock: for good
    assert parse_keep_alive(float("inf")) is None


def test_a_keep_alive_past_any_clock_keeps_the_model_for_good():
    # /api/ps turned the expiry into a date, which overflowed: a 500 on every later call
    with BackgroundServer(create_app(ServerSettings(), engine=FakeEngine())) as url:
        r = httpx.post(url + "/api/generate", json={"model": "fake", "keep_alive": 1e300})
        assert r.status_code == 200
        ps = httpx.get(url + "/api/ps")
        assert ps.status_code == 200
        assert ps.json()["models"][0]["expires_at"].startswith("2318")


# ------------------------------------------------------------------ audio routes' errors
def _upload(url, data, name="a.wav", **fields):
    return httpx.post(
        url + "/v1/audio/transcriptions",
        files={"file": (name, data, "audio/wav")},
        data={"model": "whisper-1", **fields},
        timeout=30,
    )


def test_audio_routes_refuse_bad_uploads_with_4xx_before_any_speech_model():
    app = create_app(ServerSettings(max_body=4000), engine=FakeEngine())
    with BackgroundServer(app) as url:
        r = _upload(url, b"")
        assert r.status_code == 400 and "empty (0 bytes)" in r.json()["error"]["message"]
        r = _upload(url, b"RIFF\x00\x00not really a wave file")
        assert r.status_code == 400 and "not an audio file" in r.json()["error"]["message"]
        r = _upload(url, b"x" * 5000)  # over --max-body, counted on the raw multipart body
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
        r = _upload(url, b"x", response_format="docx")
        assert r.status_code == 400 and "response_format" in r.json()["error"]["message"]
        for name in ("whisper-2", "/tmp/some-model", "../models/base"):
            r = _upload(url, b"x", model=name)
            assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        r = httpx.post(url + "/v1/audio/transcriptions", data={"model": "whisper-1"})
        assert r.status_code == 400 and "file" in r.json()["error"]["message"]
        r = httpx.post(
            url + "/v1/voice-note",
            files={"file": ("a.wav", b"x", "audio/wav")},
            data={"reference_date": "next week"},
        )
        assert r.status_code == 400 and "YYYY-MM-DD" in r.json()["error"]["message"]
        assert chat(url).status_code == 200  # and the server goes on serving


def test_audio_without_the_audio_extra_is_501_with_the_install_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import faster_whisper fails
    with BackgroundServer(create_app(ServerSettings(), engine=FakeEngine())) as url:
        r = _upload(url, b"RIFF....WAVE")
        body = r.json()["error"]
        assert r.status_code == 501 and body["code"] == "missing_extra"
        assert "pip install 'edgewise[audio]'" in body["message"]
        with (
            openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client,
            pytest.raises(openai.APIStatusError) as err,
        ):
            client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"))
        assert err.value.status_code == 501


def test_speech_worker_runs_one_at_a_time_queues_and_times_out():
    import asyncio

    from edgewise.server.audio_api import SpeechWorker
    from edgewise.server.errors import QueueFullError, RequestTimeoutError

    async def main():
        worker = SpeechWorker(ServerSettings(max_queue=1, timeout=5))
        active, peak = 0, 0

        def job():
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            time.sleep(0.2)
            active -= 1
            return threading.current_thread().name

        far = time.monotonic() + 5
        calls = [worker.call(job, far) for _ in range(3)]  # running, waiting, one too many
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert peak == 1
        assert [isinstance(r, QueueFullError) for r in results].count(True) == 1
        assert all(r.startswith("edgewise-speech") for r in results if isinstance(r, str))
        with pytest.raises(RequestTimeoutError):
            await worker.call(lambda: time.sleep(0.5), time.monotonic() + 0.1)
        await asyncio.sleep(0.5)
        assert await worker.call(lambda: 42, time.monotonic() + 5) == 42  # free again
        worker.close()

    asyncio.run(main())


def test_routers_import_only_downward():
    # app imports the routers; a router imports common, errors, scheduler, settings, metrics:
    # never another router, and never app (what two routers share lives in common)
    import ast

    import edgewise.server as server

    routers = {"openai_api", "ollama_api", "tasks_api", "audio_api"}
    lower = {"common", "errors", "scheduler", "settings", "metrics"}
    for name in routers | lower:
        tree = ast.parse((Path(server.__file__).parent / f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "edgewise.server"
            ):
                found.add((node.module or "").removeprefix("edgewise.server").lstrip("."))
                if node.module == "edgewise.server":
                    found |= {a.name for a in node.names}
        assert not found & (routers | {"app", ""}), (name, found)
        if name in lower:
            assert not found - lower, (name, found)
