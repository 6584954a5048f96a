"""Export a GGUF model to an ONNX Runtime GenAI folder (``edgewise export onnx``).

The route, measured offline with onnxruntime-genai 0.18 (see the measurements notes):

1. Float weights. onnxruntime-genai's model builder reads a GGUF only when its weights are F32
   or F16, so a quantized file (the bundled SmolLM2 is Q4_1) is dequantized to F32 with the
   ``gguf`` package first: exact values of the quantized weights, nothing rounded again.
2. A config/tokenizer folder. The builder needs a Hugging Face config and tokenizer; a hub name
   fails offline, so transformers builds them from the GGUF itself
   (``AutoConfig/AutoTokenizer.from_pretrained(dir, gguf_file=...)`` + ``save_pretrained``) and
   ``"architectures"`` is added to config.json (the GGUF loader leaves it out).
3. The builder, ``python -m onnxruntime_genai.models.builder ... --extra_options hf_token=false``.

Steps 2 and 3 run in one child Python process, not in this one: the builder's package appends
its own folder to ``sys.path`` and imports top-level modules named ``builders`` and
``quantization``, prints progress bars, and holds about 2 GB and torch at its peak; a child
keeps all of that out of the caller (a library user's process, or the test session) and makes
a crash an error message instead of a dead process. The child runs with the Hugging Face hub
offline, so nothing is looked up on the network.

Everything is written into a temporary folder next to the output and renamed into place at the
end: an interrupted or failed export never leaves a half-written output folder.

Precision. The default is ``int8``: measured against llama.cpp on the F32 weights (64
teacher-forced tokens), int8 agreed on 60/64 tokens (mean KL 0.0055, close to the 61/64 and
0.003 of the Q4_1 file itself), decodes faster than the Q4_1 GGUF (118 against 105-113 tokens/s
on 2 threads) and is half the size of fp32. ``int4`` decodes fastest (157-178 tokens/s) but
re-quantizes weights that are already 4-bit, tied embedding/output layer included, and loses
fidelity (42/64, KL 0.39). ``fp32`` reproduces llama.cpp on the same weights token for token
(64/64) at 50 tokens/s and twice the size: use it when the ONNX model must match the GGUF one.
Through ``Classifier`` (16 items, two label sets) the fp32 export gave llama.cpp F32's label
probabilities within 0.001 and the bundled Q4_1 file's labels on all 16; int8 moved
probabilities by up to 0.13 (the Q4_1 kernels themselves by 0.11) and flipped 3 labels of 8 on
a set where the model hesitates between labels. Int8 is the default because the models worth
shipping are larger than 135M, where fp32 costs 4 bytes a weight (12 GB for a 3B model);
check its labels on your own dev data (``edgewise bench``) before you ship it.
``fp16`` is for GPU execution providers (CUDA, DirectML); onnxruntime's CPU provider fails on
an fp16 model, so it needs ``execution_provider="cuda"`` or ``"dml"``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgewise.errors import (
    EdgewiseError,
    InputError,
    MissingExtraError,
    UnsupportedArchitectureError,
)
from edgewise.hub.quantize import dequantize_to_f32

log = logging.getLogger("edgewise")

PRECISIONS = ("int4", "int8", "fp16", "fp32")
DEFAULT_PRECISION = "int8"
EXECUTION_PROVIDERS = ("cpu", "cuda", "dml", "webgpu")
# The builder's valid (precision, execution provider) pairs, as it prints them.
VALID_COMBINATIONS = {
    ("fp32", "cpu"), ("fp32", "cuda"),
    ("fp16", "cuda"), ("fp16", "dml"),
    ("int8", "cpu"), ("int8", "cuda"), ("int8", "webgpu"),
    ("int4", "cpu"), ("int4", "cuda"), ("int4", "dml"), ("int4", "webgpu"),
}  # fmt: skip
# GGUF general.architecture -> the Hugging Face class name the builder dispatches on.
# Only what has been exported and checked against llama.cpp is listed.
ARCHITECTURES = {"llama": "LlamaForCausalLM"}
# Import name -> the distribution the onnx extra installs (checked before any work).
REQUIRED = {
    "onnxruntime_genai": "onnxruntime-genai",
    "onnx_ir": "onnx-ir",
    "onnx": "onnx",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "torch": "torch",
}
METADATA_FILE = "edgewise.json"
_FLOAT_FILE_TYPES = {"F32", "F16"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class OnnxExport:
    """What ``export_onnx`` made."""

    path: Path
    source: str
    precision: str
    execution_provider: str
    seconds: float
    size: int  # bytes of the output folder


def check_options(precision: str, execution_provider: str = "cpu") -> tuple[str, str]:
    """Normalize and check a precision / execution provider pair; InputError if invalid."""
    p, ep = precision.strip().lower(), execution_provider.strip().lower()
    if p not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if ep not in EXECUTION_PROVIDERS:
        raise InputError(
            f"unknown execution provider {execution_provider!r}; "
            f"use one of {', '.join(EXECUTION_PROVIDERS)}"
        )
    if (p, ep) not in VALID_COMBINATIONS:
        eps = sorted(e for q, e in VALID_COMBINATIONS if q == p)
        hint = (
            "; for the CPU use int8 or fp32" if p == "fp16" else f"; {p} runs on: {', '.join(eps)}"
        )
        raise InputError(f"precision {p} is not available for execution provider {ep}{hint}")
    return p, ep


def missing_packages() -> list[str]:
    """Distributions of the ``onnx`` extra that are not installed (found without importing)."""
    return [dist for mod, dist in REQUIRED.items() if importlib.util.find_spec(mod) is None]


def require_extra(feature: str = "ONNX export") -> None:
    """MissingExtraError with the install hint if any package of the onnx extra is missing."""
    missing = missing_packages()
    if missing:
        raise MissingExtraError("onnx", missing[0], feature)


def hf_architecture(gguf_arch: str) -> str:
    """The builder's architecture name for a GGUF architecture, or UnsupportedArchitectureError."""
    try:
        return ARCHITECTURES[gguf_arch]
    except KeyError:
        raise UnsupportedArchitectureError(
            gguf_arch, sorted(ARCHITECTURES), "ONNX export"
        ) from None


# Runs in the child process: config/tokenizer folder from the GGUF, then the builder's main.
_CHILD = r"""
import json, os, runpy, sys, warnings
job = json.loads(sys.argv[1])
warnings.simplefilter("ignore")
from transformers import AutoConfig, AutoTokenizer, GenerationConfig
src, name = os.path.split(job["gguf"])
cfg = AutoConfig.from_pretrained(src, gguf_file=name, local_files_only=True)
tok = AutoTokenizer.from_pretrained(src, gguf_file=name, local_files_only=True)
cfg.architectures = [job["architecture"]]
cfg.save_pretrained(job["hf_dir"])
tok.save_pretrained(job["hf_dir"])
try:
    GenerationConfig.from_model_config(cfg).save_pretrained(job["hf_dir"])
except Exception:
    pass  # optional: without it the builder falls back to config.json
print("EDGEWISE: config and tokenizer ready", flush=True)
sys.argv = ["builder", "-m", job["hf_dir"], "-i", job["gguf"], "-o", job["out"],
            "-p", job["precision"], "-e", job["execution_provider"], "-c", job["cache"],
            "--extra_options", "hf_token=false"]
runpy.run_module("onnxruntime_genai.models.builder", run_name="__main__", alter_sys=True)
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        TQDM_DISABLE="1",
        TRANSFORMERS_VERBOSITY="error",
        PYTHONWARNINGS="ignore",
    )
    return env


def last_error_line(output: str) -> str:
    """The line of a child's output that says what went wrong (the exception, if any)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Exit")) and " " not in head:
            return line
    return lines[-1] if lines else "no output"


def _run_builder(job: dict[str, str], log_path: Path) -> None:
    with open(log_path, "w", encoding="utf-8", errors="replace") as fh:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(job)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
        )
    output = log_path.read_text(encoding="utf-8", errors="replace")
    log.debug("onnxruntime-genai builder output:\n%s", output)
    if proc.returncode != 0:
        raise EdgewiseError(
            f"the ONNX export failed (builder exit status {proc.returncode}): "
            f"{last_error_line(output)}"
        )
    if not (Path(job["out"]) / "genai_config.json").is_file():
        raise EdgewiseError("the ONNX export failed: the builder wrote no genai_config.json")


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def export_onnx(
    model: str | None,
    out: str | Path,
    *,
    precision: str = DEFAULT_PRECISION,
    execution_provider: str = "cpu",
    progress: Progress | None = None,
) -> OnnxExport:
    """Export ``model`` (any name or path ``resolve`` accepts) to an ONNX Runtime GenAI folder.

    ``out`` must not exist; it appears only when the export succeeded. The folder holds
    ``model.onnx`` (+ ``.data``), ``genai_config.json``, the tokenizer and ``edgewise.json``
    (source, precision, chat template), and ``edgewise.load(out)`` opens it with the ONNX
    engine. See the module docstring for the route and the choice of precision (default int8).
    """
    from edgewise.gguf import read_gguf
    from edgewise.resolver import resolve

    say = progress or (lambda message: log.info("%s", message))
    precision, execution_provider = check_options(precision, execution_provider)
    out = Path(out).expanduser()
    if out.exists():
        raise InputError(f"{out} already exists; choose another output folder or remove it")
    if not out.parent.is_dir():
        raise InputError(f"the folder {out.parent} does not exist; create it first")
    resolved = resolve(model)
    info = read_gguf(resolved.path)
    architecture = hf_architecture(info.architecture)
    require_extra()

    t0 = time.perf_counter()
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    except OSError as exc:
        raise InputError(f"cannot write in {out.parent}: {exc.strerror or exc}") from None
    try:
        work, result = tmp / "work", tmp / "onnx"
        work.mkdir()
        file_type = (info.file_type or "").upper()
        if file_type in _FLOAT_FILE_TYPES:
            gguf_path = resolved.path
        else:
            say(f"dequantizing {resolved.path.name} ({file_type or 'quantized'}) to F32")
            gguf_path = dequantize_to_f32(resolved.path, work / "model-f32.gguf")
        say(f"building the ONNX model ({precision}, {execution_provider})")
        job = {
            "gguf": str(Path(gguf_path).resolve()),
            "hf_dir": str(work / "hf"),
            "architecture": architecture,
            "out": str(result),
            "precision": precision,
            "execution_provider": execution_provider,
            "cache": str(work / "cache"),
        }
        _run_builder(job, work / "builder.log")
        meta = {
            "format": "edgewise-onnx/1",
            "source": resolved.name,
            "source_file": resolved.path.name,
            "source_quant": resolved.quant or info.file_type,
            "architecture": info.architecture,
            "precision": precision,
            "execution_provider": execution_provider,
            "instruct": resolved.entry.instruct if resolved.entry is not None else True,
            "add_bos": bool(info.metadata.get("tokenizer.ggml.add_bos_token", False)),
            "chat_template": info.chat_template,
            "context_length": info.context_length,
        }
        (result / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        # the builder made ``result`` with os.makedirs (plain mode); only ``tmp`` is private
        os.rename(result, out)
    except OSError as exc:
        raise InputError(f"the ONNX export could not write its files: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - t0
    return OnnxExport(out, resolved.name, precision, execution_provider, seconds, _folder_size(out))
