"""`edgewise pull` against a real HTTP server on localhost (never the internet)."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgewise import catalog, resolver, store
from edgewise.catalog import ModelEntry, ModelFile
from edgewise.cli.main import cli
from edgewise.errors import (
    ChecksumMismatchError,
    DownloadError,
    InsufficientDiskSpaceError,
    ModelNotFoundError,
)
from edgewise.hub import download

REPO = "edgewise-test/tiny-GGUF"
FILENAME = "tiny-F32.gguf"


class FileServer:
    """Serves ``files`` by URL path, with or without Range support; records every request."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.ranges = True
        self.requests: list[dict[str, object]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                data = owner.files.get(self.path)
                record: dict[str, object] = {"path": self.path, "range": self.headers["Range"]}
                owner.requests.append(record)
                if data is None:
                    record.update(status=404, sent=0)
                    self.send_error(404)
                    return
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if owner.ranges and m:
                    start = int(m.group(1))
                    if start >= len(data):
                        record.update(status=416, sent=0)
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                record.update(status=206 if start else 200, sent=len(body))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:  # a client that hung up
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def gguf_bytes(tmp_path: Path, gguf_writer) -> bytes:
    path = gguf_writer(tmp_path / "src.gguf", tensors=[("w", (64, 1024), 0)])  # 256 KiB of F32
    return path.read_bytes()


def _entry(data: bytes, *, sha256: str | None = "auto", exact: bool = True) -> ModelEntry:
    digest = hashlib.sha256(data).hexdigest() if sha256 == "auto" else sha256
    return ModelEntry(
        id="tiny-test",
        family="Test",
        params=1_000_000,
        license="Apache-2.0",
        commercial=True,
        license_note="Apache-2.0: commercial use allowed",
        languages=("en",),
        context=512,
        architecture="llama",
        card="https://example.invalid/tiny",
        files=(ModelFile("F32", REPO, FILENAME, len(data), exact=exact, sha256=digest),),
        aliases=("tiny-alias",),
        default_quant="F32",
    )


@pytest.fixture
def server(gguf_bytes, monkeypatch):
    srv = FileServer({f"/{REPO}/resolve/main/{FILENAME}": gguf_bytes})
    monkeypatch.setenv("EDGEWISE_MIRROR", srv.url + "/")
    monkeypatch.setattr(download, "CHUNK", 16 * 1024)
    yield srv
    srv.close()


@pytest.fixture
def tiny(gguf_bytes, monkeypatch) -> ModelEntry:
    entry = _entry(gguf_bytes)
    monkeypatch.setattr(catalog, "CATALOG", (*catalog.CATALOG, entry))
    return entry


def _dest() -> Path:
    return store.models_dir() / FILENAME


def _part() -> Path:
    return store.models_dir() / (FILENAME + ".part")


def test_mirror_url_layout(monkeypatch):
    mfile = catalog.get("llama3.2-1b").file()
    assert download.source_url(mfile) == mfile.url  # huggingface.co without a mirror
    monkeypatch.setenv("EDGEWISE_MIRROR", "http://mirror.local/hf/")
    assert download.source_url(mfile) == (
        "http://mirror.local/hf/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/"
        "Llama-3.2-1B-Instruct-Q4_K_M.gguf"
    )


def test_full_download_verifies_and_resolve_finds_it(server, tiny, gguf_bytes):
    seen: list[tuple[int, int | None]] = []
    result = download.pull_model("tiny-test", progress=lambda d, t: seen.append((d, t)))
    assert result.status == "downloaded" and result.verified == "sha256"
    assert result.path == _dest() and _dest().read_bytes() == gguf_bytes
    assert not _part().exists()
    assert result.received == len(gguf_bytes) and result.resumed_from == 0
    assert server.requests == [
        {"path": f"/{REPO}/resolve/main/{FILENAME}", "range": None, "status": 200,
         "sent": len(gguf_bytes)}
    ]  # fmt: skip
    assert seen[0] == (0, len(gguf_bytes)) and seen[-1] == (len(gguf_bytes), len(gguf_bytes))
    assert len(seen) > 4  # reported chunk by chunk
    resolved = resolver.resolve("tiny-alias")
    assert resolved.path == _dest() and resolved.source == "downloaded"

    # a second pull checks the file and transfers nothing
    again = download.pull_model("tiny-test")
    assert again.status == "present" and again.verified == "sha256"
    assert len(server.requests) == 1


def test_resume_sends_range_and_only_the_rest(server, tiny, gguf_bytes):
    kept = 100_000
    _part().write_bytes(gguf_bytes[:kept])
    path = download.pull("tiny-test")
    assert path.read_bytes() == gguf_bytes and not _part().exists()
    (req,) = server.requests
    assert req["range"] == f"bytes={kept}-" and req["status"] == 206
    assert req["sent"] == len(gguf_bytes) - kept


def test_server_without_range_support_restarts_from_zero(server, tiny, gguf_bytes):
    server.ranges = False
    _part().write_bytes(b"\xff" * 50_000)  # wrong bytes: they must not survive
    result = download.pull_model("tiny-test")
    assert result.resumed_from == 0 and result.received == len(gguf_bytes)
    assert _dest().read_bytes() == gguf_bytes
    (req,) = server.requests
    assert req["range"] == "bytes=50000-" and req["status"] == 200
    assert req["sent"] == len(gguf_bytes)


def test_complete_part_is_finished_without_transfer(server, tiny, gguf_bytes):
    _part().write_bytes(gguf_bytes)
    result = download.pull_model("tiny-test")
    assert result.status == "downloaded" and result.received == 0
    assert _dest().read_bytes() == gguf_bytes
    assert server.requests[0]["status"] == 416


def test_interrupt_keeps_the_part_and_the_next_pull_resumes(server, tiny, gguf_bytes):
    def stop(done: int, total: int | None) -> None:
        if done >= 64 * 1024:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download.pull("tiny-test", progress=stop)
    assert not _dest().exists()
    kept = _part().stat().st_size
    assert 64 * 1024 <= kept < len(gguf_bytes)
    download.pull("tiny-test")
    assert _dest().read_bytes() == gguf_bytes
    assert server.requests[-1]["range"] == f"bytes={kept}-"
    assert server.requests[-1]["sent"] == len(gguf_bytes) - kept


def test_sha256_mismatch_deletes_the_download(server, gguf_bytes, monkeypatch):
    entry = _entry(gguf_bytes, sha256="0" * 64)
    monkeypatch.setattr(catalog, "CATALOG", (*catalog.CATALOG, entry))
    with pytest.raises(ChecksumMismatchError) as info:
        download.pull("tiny-test")
    assert info.value.expected == "0" * 64
    assert info.value.actual == hashlib.sha256(gguf_bytes).hexdigest()
    assert "sha256 mismatch" in str(info.value)
    assert not _dest().exists() and not _part().exists()
    with pytest.raises(ModelNotFoundError):
        resolver.resolve("tiny-test")


def test_corrupt_part_is_caught_by_the_hash_and_the_retry_succeeds(server, tiny, gguf_bytes):
    _part().write_bytes(b"\0" * 1000)  # resumable, but not the file's first bytes
    with pytest.raises(ChecksumMismatchError):
        download.pull("tiny-test")
    assert not _dest().exists() and not _part().exists()
    assert download.pull("tiny-test").read_bytes() == gguf_bytes


def test_without_hash_the_size_is_checked(server, gguf_bytes, monkeypatch):
    entry = _entry(gguf_bytes + b"extra", sha256=None)  # the catalog expects 5 more bytes
    monkeypatch.setattr(catalog, "CATALOG", (*catalog.CATALOG, entry))
    with pytest.raises(DownloadError, match="sent .* bytes but the catalogued file has"):
        download.pull("tiny-test")
    assert not _dest().exists() and not _part().exists()


def test_not_enough_disk_space(server, tiny, gguf_bytes, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    _part().write_bytes(gguf_bytes[:24])
    with pytest.raises(InsufficientDiskSpaceError) as info:
        download.pull("tiny-test")
    assert info.value.needed == len(gguf_bytes) - 24 and info.value.free == 1000
    assert "needs 0.3 MB, 0.0 MB is free" in str(info.value)
    assert server.requests == []  # checked before connecting
    assert _part().stat().st_size == 24  # the resumable part is kept


def test_offline_is_one_line_and_exit_1(tiny, monkeypatch):
    srv = FileServer({})
    url = srv.url
    srv.close()  # nothing listens on that port any more: connection refused
    monkeypatch.setenv("EDGEWISE_MIRROR", url)
    result = CliRunner().invoke(cli, ["pull", "tiny-test"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: cannot reach {url[7:]}: ")
    assert "offline? set EDGEWISE_MIRROR" in lines[-1]
    assert "Traceback" not in result.output + result.stderr
    assert not _dest().exists() and not _part().exists()


def test_http_error_names_the_status(server, tiny, monkeypatch):
    server.files.clear()
    with pytest.raises(DownloadError, match=r"HTTP 404 Not Found from .*\(check EDGEWISE_MIRROR\)"):
        download.pull("tiny-test")


def test_unknown_name_lists_the_catalog():
    with pytest.raises(ModelNotFoundError) as info:
        download.pull("gpt-17")
    assert "smollm2-135m" in str(info.value) and "llama3.2-1b" in str(info.value)
    assert info.value.known == [e.id for e in catalog.CATALOG]
    with pytest.raises(ModelNotFoundError, match="llama3.2-1b:Q4_K_M"):
        download.pull("llama3.2-1b:Q2_K")  # a quantization the catalog does not have


def test_cli_bundled_model_needs_no_download(monkeypatch):
    monkeypatch.setenv("EDGEWISE_MIRROR", "http://127.0.0.1:9")  # would fail if contacted
    result = CliRunner().invoke(cli, ["pull", "smollm2-135m"])
    assert result.exit_code == 0, result.output
    assert "is bundled with edgewise; nothing to download" in result.stdout
    assert not any(store.models_dir().iterdir())


def test_cli_pull_downloads_then_says_present(server, tiny, gguf_bytes):
    runner = CliRunner()
    first = runner.invoke(cli, ["pull", "tiny-test"])
    assert first.exit_code == 0, first.output
    assert "downloaded tiny-test (F32)" in first.stdout and "sha256 verified" in first.stdout
    assert f"from {server.url}/{REPO}/resolve/main/{FILENAME}" in first.stderr
    second = runner.invoke(cli, ["pull", "tiny-test", "--json"])
    assert second.exit_code == 0
    assert '"status": "present"' in second.stdout
    assert len(server.requests) == 1


def test_progress_bar_draws_bytes_on_a_terminal(capsys):
    from edgewise.cli.hub import ByteProgress

    bar = ByteProgress("pulling tiny")
    bar.enabled = True  # as on a terminal
    bar(1_000_000, 4_000_000)
    bar(4_000_000, 4_000_000)
    bar.close()
    err = capsys.readouterr().err
    assert "pulling tiny [" in err and "4/4 MB" in err and "MB/s" in err
    assert err.endswith("\n")
    quiet = ByteProgress("x")
    quiet.enabled = False  # not a terminal: nothing at all
    quiet(1, 2)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_a_second_pull_of_the_same_file_is_refused_while_one_runs(server, tiny):
    import fcntl

    with _part().open("ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="being written by another `edgewise pull`"):
            download.pull("tiny-test")
    assert server.requests == [] and _part().exists()
