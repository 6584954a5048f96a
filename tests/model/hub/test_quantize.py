"""Quantizing the bundled model: dequantize to F16, quantize, verify, derive on first use."""

from __future__ import annotations

import pytest

import edgewise
from edgewise.bundled import smollm2_path
from edgewise.errors import InputError, ModelLoadError
from edgewise.gguf import read_gguf
from edgewise.hub.quantize import derived_path, quantize
from edgewise.resolver import resolve


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
        "Q4_K_M, Q4_K_S, Q4_0, IQ4_NL, F32"
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


def test_derived_f32_is_the_exact_expansion_of_the_shipped_file(engine):
    import gguf
    import numpy as np

    path = resolve("smollm2-135m:F32").path
    assert read_gguf(path).file_type == "F32"
    shipped = {t.name: t for t in gguf.GGUFReader(str(smollm2_path())).tensors}
    expanded = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    assert expanded.keys() == shipped.keys()
    for name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight"):
        src, out = shipped[name], expanded[name]
        assert src.tensor_type != gguf.GGMLQuantizationType.F32  # Q8_0 / Q4_1 in the shipped file
        assert out.tensor_type == gguf.GGMLQuantizationType.F32
        exact = gguf.quants.dequantize(np.asarray(src.data), src.tensor_type)
        assert np.array_equal(np.asarray(out.data).reshape(exact.shape), exact)
    # the same model: label scores agree with the shipped file's (which rounds activations
    # to 8 bits inside its matrix products, so not to the last digit)
    texts = ["I love it, wonderful!", "I hate it, terrible.", "The parcel arrives on Monday."]
    with edgewise.load("smollm2-135m:F32") as eng:
        ours = edgewise.Classifier(eng, ["positive", "negative"]).classify_many(texts)
    ref = edgewise.Classifier(engine, ["positive", "negative"]).classify_many(texts)
    for a, b in zip(ours, ref):
        assert a.label == b.label
        assert abs(a.scores["positive"] - b.scores["positive"]) < 0.05
