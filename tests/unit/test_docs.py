"""The documentation stays true to the code: the CLI reference is the commands' own --help,
every relative link leads somewhere, and every Python example at least compiles.

The examples themselves run on the real model in tests/model/test_docs_examples.py.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgewise.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# each example that does not run is one the docs can get wrong unseen: raise this with care
MAX_NO_RUN = 4


def gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current():
    expected = gen_cli().render()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == expected, "docs/cli.md is out of date: run python docs/gen_cli.py"


def test_cli_reference_is_what_help_prints():
    gen = gen_cli()
    found = list(gen.commands(cli, "edgewise"))
    assert len(found) > 30 and all(" " not in ctx.info_name for ctx, _ in found)
    for ctx, command in found:
        args = [*ctx.command_path.split()[1:], "--help"]
        result = CliRunner().invoke(cli, args, prog_name="edgewise", terminal_width=gen.WIDTH)
        assert result.exit_code == 0, args
        assert result.output == command.get_help(ctx) + "\n", args


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def prose(path: Path, doc_blocks) -> str:
    """A page without its code blocks (a "# comment" there is no heading)."""
    text = path.read_text(encoding="utf-8")
    for block in doc_blocks(path):
        text = text.replace(block.code, "")
    return text


def anchors(path: Path, doc_blocks) -> set[str]:
    return {slug(m[1]) for m in re.finditer(r"^#{1,6} +(.+?) *$", prose(path, doc_blocks), re.M)}


def links(path: Path, doc_blocks) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", prose(path, doc_blocks))  # `[\s\S]` in inline code
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings(page: Path, doc_blocks):
    for target in links(page, doc_blocks):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, fragment = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        assert dest.exists(), f"{page.name}: {target} does not exist"
        if fragment:
            assert fragment in anchors(dest, doc_blocks), f"{page.name}: no heading #{fragment}"


def test_the_readme_links_every_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in readme, page.name


def test_every_python_example_compiles_and_says_why_it_does_not_run(doc_blocks):
    skipped = []
    for page in PAGES:
        for block in doc_blocks(page):
            if block.lang != "python":
                continue
            compile(block.code, block.where, "exec")
            if block.flags:
                assert re.fullmatch(r"no-run: \S.*", block.flags), (block.where, block.flags)
                skipped.append(block.where)
    assert len(skipped) <= MAX_NO_RUN, skipped
