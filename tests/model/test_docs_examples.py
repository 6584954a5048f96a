"""The Python examples in README.md and docs/*.md run, on the embedded SmolLM2-135M.

A page's blocks run in order in one namespace, as a reader would type them, in a scratch
folder whose examples/ is the repository's. A block that names the default server address
talks to a real server on a free port instead. Blocks marked ```python no-run: why``` are
not run; tests/unit/test_docs.py compiles them and keeps them few.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import ollama
import openai
import pytest

import edgewise
import edgewise.tasks
from edgewise.engines.llamacpp import LlamaCppEngine
from edgewise.server.app import BackgroundServer, create_app
from edgewise.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# pages with a block to run: a fence that is just ```python
RUN = [p for p in PAGES if "\n```python\n" in p.read_text(encoding="utf-8")]
SERVER = "http://127.0.0.1:8080"  # what `edgewise serve` listens on by default
OPENED = (LlamaCppEngine, edgewise.Profile, openai.OpenAI, ollama.Client)


@pytest.mark.parametrize("page", RUN, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_python_examples_run(page: Path, doc_blocks, engine, tmp_path, monkeypatch) -> None:
    # the default model is pinned to the 135M (tests/conftest.py); tasks share the session's
    monkeypatch.setattr(edgewise.tasks, "_default", engine)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in doc_blocks(page) if b.lang == "python" and not b.flags]
    namespace: dict[str, object] = {"__name__": "__docs__"}
    with contextlib.ExitStack() as stack:
        url = None
        for block in blocks:
            code = block.code
            if SERVER in code:
                if url is None:
                    app = create_app(ServerSettings(timeout=120), engine=engine)
                    url = stack.enter_context(BackgroundServer(app))
                code = code.replace(SERVER, url)
            # blank lines first, so a traceback names the line in the page
            exec(compile("\n" * (block.line - 1) + code, str(block.path), "exec"), namespace)
        for value in namespace.values():  # models, profiles and clients the examples opened
            if isinstance(value, OPENED) and value is not engine:
                value.close()
