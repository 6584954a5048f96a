from __future__ import annotations

import os

import pytest

from edgewise.engines import prefix_store
from edgewise.engines.prefix_store import PrefixStore

TOKENS = list(range(1, 300))


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    return path


def test_round_trip_and_keys(tmp_path, model):
    store = PrefixStore(tmp_path / "kv", model, "lib-1")
    assert store.load(TOKENS) is None
    store.save(TOKENS, b"state" * 100)
    assert store.load(TOKENS) == b"state" * 100
    assert store.load(TOKENS[:-1]) is None  # another prefix
    assert PrefixStore(tmp_path / "kv", model, "lib-2").load(TOKENS) is None  # another build
    os.utime(model, ns=(1, 1))  # the model file changed
    assert PrefixStore(tmp_path / "kv", model, "lib-1").load(TOKENS) is None
    assert not list((tmp_path / "kv").glob(".tmp-*"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_damaged_file_is_a_miss_and_is_removed(tmp_path, model, damage):
    store = PrefixStore(tmp_path / "kv", model, "lib")
    store.save(TOKENS, bytes(range(256)) * 10)
    (path,) = (tmp_path / "kv").glob("*.kv")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-7] ^= 0xFF
    elif damage == "truncate":
        data = data[:-100]
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    assert store.load(TOKENS) is None
    assert not path.exists()


def test_least_recently_used_files_go_first(tmp_path, model, monkeypatch):
    monkeypatch.setattr(prefix_store, "MAX_BYTES", 3500)  # three files of 1,046 bytes
    store = PrefixStore(tmp_path / "kv", model, "lib")
    for n, stamp in ((1, 100), (2, 200), (3, 300)):
        store.save(TOKENS[:n], b"x" * 1000)
        (path,) = [p for p in (tmp_path / "kv").glob("*.kv") if p.stat().st_mtime_ns > 10**12]
        os.utime(path, (stamp, stamp))
    assert store.load(TOKENS[:1]) is not None  # used now: the most recent
    store.save(TOKENS[:4], b"x" * 1000)
    kept = [n for n in (1, 2, 3, 4) if store.load(TOKENS[:n]) is not None]
    assert kept == [1, 3, 4]  # 2 was the least recently used


def test_unwritable_store_is_not_an_error(tmp_path, model):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = PrefixStore(blocker / "kv", model, "lib")
    store.save(TOKENS, b"state")  # logged, not raised
    assert store.load(TOKENS) is None
