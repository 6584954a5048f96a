import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quickstart_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quickstart_has_two_lines_and_ci_runs_line_two():
    lines = quickstart_lines()
    assert len(lines) == 2
    assert "edgewise" in lines[0] and "pytest" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run extracts line 2 from the README instead of keeping a copy
    assert "Quickstart" in ci and "README.md" in ci


def test_the_readme_is_a_front_page():
    # the rest is in docs/, one page per area (tests/unit/test_docs.py checks the links)
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
