"""``edgewise serve`` as a process: a model given by path, then SIGTERM."""

from __future__ import annotations

import time

import httpx


def test_edgewise_serve_command_serves_a_model_given_by_path(tmp_path):
    """The CLI end to end: a GGUF path chosen by the operator is loaded at start and named by
    its stem; requests still cannot name paths."""
    import os
    import socket
    import subprocess
    import sys

    from edgewise.bundled import smollm2_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-c", "from edgewise.cli.main import main; main()", "serve"]
    cmd += ["--port", str(port), "--model", str(smollm2_path()), "--n-ctx", "512"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                health = httpx.get(url + "/health", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "edgewise serve did not start"
                time.sleep(0.2)
        stem = smollm2_path().stem
        assert health["models"] == [stem] and health["default_model"] == stem
        ps = httpx.get(url + "/api/ps").json()["models"]
        assert ps[0]["context_length"] == 512 and ps[0]["expires_at"].startswith("2318")
        r = httpx.post(
            url + "/api/generate",
            json={"model": stem, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}},
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["eval_count"] <= 2
        r = httpx.post(url + "/api/show", json={"model": str(smollm2_path())})
        assert r.status_code == 404
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode in (0, 143), out  # uvicorn shuts down, then exits as SIGTERM asks
    assert "Traceback" not in out
