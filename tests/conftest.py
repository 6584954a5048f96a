from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL_TIER = ROOT / "tests" / "model"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/model ``model``, so that ``-m "not model"`` is the unit tier.

    The folder decides the tier, not a line each module must remember: a model-tier module
    without its ``pytestmark`` used to slip into ``-m "not model"`` and load the model. This runs
    before ``-m`` deselects (tryfirst), whatever order the plugins were registered in.
    """
    for item in items:
        if item.path.resolve().is_relative_to(MODEL_TIER):  # ROOT is resolved too
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own EDGEWISE_HOME."""
    home = tmp_path / "edgewise-home"
    monkeypatch.setenv("EDGEWISE_HOME", str(home))
    monkeypatch.delenv("EDGEWISE_N_CTX", raising=False)
    monkeypatch.delenv("EDGEWISE_THREADS", raising=False)
    # the default model is the strongest one installed (the 1.5B in the test extra); tests
    # that are not about answer quality run on the embedded 135M, and quality tests name theirs
    monkeypatch.setenv("EDGEWISE_MODEL", "smollm2-135m")
    # engines outlive a test's home (the session engine): the prefix store is tested on
    # engines made for it, and stays off elsewhere
    monkeypatch.setenv("EDGEWISE_PREFIX_CACHE", "0")
    # EDGEWISE_TEST_THREADS=1 keeps parallel test runs on a 2-core machine from spin-waiting
    # each other's llama.cpp threads; CI leaves it unset and tests run with the default.
    if os.environ.get("EDGEWISE_TEST_THREADS"):
        monkeypatch.setenv("EDGEWISE_THREADS", os.environ["EDGEWISE_TEST_THREADS"])
    return home


def _s(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(
    path: Path,
    *,
    tensors: list[tuple[str, tuple[int, ...], int]] | None = None,
    metadata: dict[str, object] | None = None,
    truncate: int | None = None,
) -> Path:
    """Write a small, valid GGUF v3 file (F32 tensors by default) for header tests."""
    tensors = tensors if tensors is not None else [("w", (8, 4), 0)]
    metadata = {"general.architecture": "llama", "general.name": "tiny", **(metadata or {})}
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, value in metadata.items():
        out += _s(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + _s(value)
        elif isinstance(value, int):
            out += struct.pack("<IQ", 10, value)
        else:
            raise TypeError(value)
    offset = 0
    sizes = []
    for name, shape, ggml_type in tensors:
        n = 1
        for d in shape:
            n *= d
        size = n * (4 if ggml_type == 0 else 2)
        out += (
            _s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        )
        out += struct.pack("<IQ", ggml_type, offset)
        sizes.append(size)
        offset += size + (-size % 32)
    out += b"\0" * (-len(out) % 32)
    for size in sizes:
        out += b"\1" * size + b"\0" * (-size % 32)
    if truncate is not None:
        out = out[:truncate]
    path.write_bytes(out)
    return path


@pytest.fixture
def gguf_writer():
    return write_gguf


# ------------------------------------------------------------------ the documentation
FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)


@dataclass
class CodeBlock:
    """A fenced code block: ```python no-run: why``` has lang "python" and flags "no-run: why"."""

    path: Path
    line: int  # the line of the block's first line of code, 1-based
    lang: str
    flags: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[CodeBlock]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        lang, _, flags = m["info"].strip().partition(" ")
        line = text.count("\n", 0, m.start("code")) + 1
        blocks.append(CodeBlock(path, line, lang, flags.strip(), m["code"]))
    return blocks


@pytest.fixture
def doc_blocks():
    """``doc_blocks(path)``: the fenced code blocks of a page of the documentation."""
    return code_blocks
