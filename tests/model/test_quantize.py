"""Quantizing the bundled model: dequantize to F16, quantize, verify, derive on first use."""

from __future__ import annotations

import pytest

import edgewise
from edgewise.bundled import smollm2_path
from edgewise.catalog import resolve
from edgewise.errors import InputError, ModelLoadError
from edgewise.gguf import read_gguf
from edgewise.hub.quantize import derived_path, quantize


def test_derived_q4_0_is_made_once_and_runs(tmp_path):
    path = derived_path("smollm2-135m", "Q4_0")
    assert not path.exists()
    resolved = resolve("smollm2-135m:q4_0")
    assert resolved.source == "derived" and resolved.path == path
    info = read_gguf(path)
    assert info.file_type == "Q4_0" and info.chat_template
    mtime = path.stat().st_mtime_ns
    assert resolve("smollm2-135m:Q4_0").path.stat().st_mtime_ns == mtime  # not rebuilt
    with edgewise.load("smollm2-135m:Q4_0") as eng:
        out = eng.generate(
            [{"role": "user", "content": "Say hello."}], {"max_tokens": 6, "temperature": 0}
        )
        assert out.text.strip()
        # the same label ranking as the shipped file on an easy pair
        clf = edgewise.Classifier(eng, ["positive", "negative"])
        love, hate = clf.classify_many(["I love it, wonderful!", "I hate it, terrible."])
        assert love.scores["positive"] > hate.scores["positive"]


def test_quantize_errors_leave_nothing_behind(tmp_path):
    with pytest.raises(InputError, match="unknown quantization"):
        quantize(smollm2_path(), "Q3_XYZ", tmp_path / "x.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(ModelLoadError):
        quantize(junk, "Q8_0", tmp_path / "y.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.gguf"]


def test_cli_quantize_writes_next_to_the_input_and_refuses_bad_input(tmp_path):
    from click.testing import CliRunner

    from edgewise.cli.main import cli

    folder = tmp_path / "work"
    folder.mkdir()
    src = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    src.symlink_to(smollm2_path())  # the default output lands next to the input
    runner = CliRunner()
    bad_type = runner.invoke(cli, ["quantize", str(src), "--type", "Q3_XYZ"])
    assert bad_type.exit_code == 1
    assert bad_type.stderr.strip().splitlines() == [
        "error: unknown quantization type 'Q3_XYZ'; use one of F16, Q8_0, Q6_K, Q5_K_M, "
        "Q4_K_M, Q4_K_S, Q4_0, IQ4_NL"
    ]
    missing = runner.invoke(cli, ["quantize", str(folder / "none.gguf"), "--type", "Q8_0"])
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == [f"error: no such file: {folder}/none.gguf"]

    result = runner.invoke(cli, ["quantize", str(src), "--type", "q8_0"])
    assert result.exit_code == 0, result.output
    out = folder / "SmolLM2-135M-Instruct.Q4_1-Q8_0.gguf"
    assert result.stdout.startswith(f"{out}: Q8_0, ")
    assert read_gguf(out).file_type == "Q8_0"
    assert sorted(p.name for p in folder.iterdir()) == sorted([src.name, out.name])  # no .part
