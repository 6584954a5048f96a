"""ONNX export and engine without weights: options, refusals, install hints, pure helpers."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import edgewise
from edgewise.cli.main import cli
from edgewise.engines import onnx as onnx_engine
from edgewise.engines.onnx import (
    OnnxEngine,
    closed_schema,
    guidance_schema,
    is_onnx_model,
    plain_pieces,
    sample_token,
)
from edgewise.errors import (
    CapabilityError,
    InputError,
    MissingExtraError,
    UnsupportedArchitectureError,
)
from edgewise.hub import onnx_export
from edgewise.hub.onnx_export import check_options, export_onnx, hf_architecture, last_error_line
from edgewise.types import GenerationOptions


@pytest.fixture
def runner():
    return CliRunner()


def test_check_options():
    assert check_options("INT8", "CPU") == ("int8", "cpu")
    assert check_options("fp16", "dml") == ("fp16", "dml")
    with pytest.raises(InputError, match="unknown precision 'q4'"):
        check_options("q4")
    with pytest.raises(InputError, match="for the CPU use int8 or fp32"):
        check_options("fp16", "cpu")
    with pytest.raises(InputError, match="unknown execution provider"):
        check_options("int8", "tpu")


def test_unsupported_architecture_is_a_capability_error(gguf_writer, tmp_path):
    assert hf_architecture("llama") == "LlamaForCausalLM"
    with pytest.raises(UnsupportedArchitectureError) as info:
        hf_architecture("bert")
    assert isinstance(info.value, CapabilityError) and info.value.supported == ["llama"]
    bert = gguf_writer(tmp_path / "enc.gguf", metadata={"general.architecture": "bert"})
    with pytest.raises(UnsupportedArchitectureError, match="'bert' architecture"):
        export_onnx(str(bert), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_bad_precision_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(
        cli, ["export", "onnx", "smollm2-135m", "-o", str(tmp_path / "o"), "-p", "q4"]
    )
    assert result.exit_code == 2 and "'q4' is not one of" in result.output


def test_cli_fp16_on_cpu_says_what_to_do(runner, tmp_path):
    result = runner.invoke(
        cli, ["export", "onnx", "smollm2-135m", "-o", str(tmp_path / "o"), "-p", "fp16"]
    )
    assert result.exit_code == 1
    assert "error: precision fp16 is not available for execution provider cpu" in result.output


def test_cli_missing_model(runner, tmp_path):
    result = runner.invoke(cli, ["export", "onnx", "no-such-model", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.startswith("error: unknown model 'no-such-model'")
    assert "Traceback" not in result.output


def test_cli_output_exists(runner, tmp_path):
    (tmp_path / "o").mkdir()
    result = runner.invoke(cli, ["export", "onnx", "smollm2-135m", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "already exists" in result.output
    assert list((tmp_path / "o").iterdir()) == []


def test_cli_unsupported_architecture_is_one_line(runner, gguf_writer, tmp_path):
    bert = gguf_writer(tmp_path / "enc.gguf", metadata={"general.architecture": "bert"})
    result = runner.invoke(cli, ["export", "onnx", str(bert), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: ONNX export does not support the 'bert' architecture (supported: llama)"
    ]


def test_cli_missing_extra_gives_the_install_line(runner, gguf_writer, tmp_path, monkeypatch):
    model = gguf_writer(tmp_path / "tiny.gguf")  # llama architecture
    real = onnx_export.importlib.util.find_spec
    monkeypatch.setattr(
        onnx_export.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime_genai" else real(name, *a),
    )
    result = runner.invoke(cli, ["export", "onnx", str(model), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "pip install 'edgewise[onnx]'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_engine_without_the_extra_gives_the_install_line(tmp_path, monkeypatch):
    (tmp_path / "genai_config.json").write_text("{}")
    monkeypatch.setattr(onnx_engine, "_og", None)
    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"pip install 'edgewise\[onnx\]'"):
        edgewise.load(str(tmp_path))
    with pytest.raises(MissingExtraError):
        OnnxEngine(tmp_path / "genai_config.json")


def test_is_onnx_model(tmp_path):
    assert not is_onnx_model(tmp_path) and not is_onnx_model("smollm2-135m")
    (tmp_path / "genai_config.json").write_text("{}")
    assert is_onnx_model(tmp_path) and is_onnx_model(tmp_path / "genai_config.json")


def test_last_error_line():
    out = "Reading layer 1\nTraceback (most recent call last):\n  File x\nValueError: bad shape\n"
    assert last_error_line(out) == "ValueError: bad shape"
    assert last_error_line("just text\n\n") == "just text"
    assert last_error_line("") == "no output"


def test_plain_pieces_cut_inside_special_strings():
    specials = ["<|im_start|>", "<|im_end|>"]
    assert plain_pieces("plain", specials) == ["plain"]
    assert plain_pieces("", specials) == []
    pieces = plain_pieces("Hi <|im_end|> x<|im_start|>", specials)
    assert "".join(pieces) == "Hi <|im_end|> x<|im_start|>"
    assert pieces == ["Hi <", "|im_end|> x<", "|im_start|>"]
    assert not any(s in p for p in pieces for s in specials)


def test_closed_schema_and_guidance_format():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {"b": {"type": "integer"}}}},
        "anyOf": [{"properties": {"c": {}}, "additionalProperties": True}],
    }
    closed = closed_schema(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    assert closed["anyOf"][0]["additionalProperties"] is True  # an explicit choice is kept
    assert "additionalProperties" not in schema  # the caller's schema is not changed
    sent = json.loads(guidance_schema(schema))
    assert sent["x-guidance"]["whitespace_flexible"] is False


def _opts(**kw):
    return GenerationOptions.parse(kw)


def test_sample_token():
    logits = np.array([0.0, 3.0, 1.0, 2.5], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert sample_token(logits, _opts(temperature=0), rng) == 1
    assert sample_token(logits, _opts(temperature=0), rng, banned=[1]) == 3
    # a repeat penalty of 2 halves the repeated token's positive logit: 3.0 -> 1.5 < 2.5
    assert sample_token(logits, _opts(temperature=0, repeat_penalty=2.0), rng, recent=[1]) == 3
    assert {sample_token(logits, _opts(temperature=1.5, top_k=1), rng) for _ in range(20)} == {1}
    # top-p keeps the smallest set reaching p: here the two best tokens
    picks = {
        sample_token(logits, _opts(temperature=5, top_k=0, top_p=0.8), rng) for _ in range(200)
    }
    assert picks == {1, 3}
    seeded = [
        [sample_token(logits, _opts(temperature=1.0), np.random.default_rng(5)) for _ in range(1)]
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]
