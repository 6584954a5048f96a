"""Quantize a GGUF to another weight format, also from an already-quantized file.

llama.cpp's quantizer wants float weights. A quantized input (such as the bundled Q4_1 model)
is first dequantized to F16 with the ``gguf`` package (metadata copied, 1-D tensors kept F32),
then quantized by llama.cpp (``engines.llamacpp.quantize_file``). The result is written to a
temporary file, checked (it must load and generate), and renamed into place. ``F32`` is the
exact expansion of a quantized file (no rounding): the same model, 4-5x the bytes, and on
AVX-512 machines the fastest at evaluating prompts (llama.cpp's F32 matrix kernels), which is
what label scoring spends its time on.

``derived(entry, quant)`` keeps such conversions of bundled models in EDGEWISE_HOME, so
``edgewise.load("smollm2-135m:Q4_0")`` works offline: the file is made on first use.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from edgewise.errors import InputError, ModelLoadError
from edgewise.gguf import read_gguf
from edgewise.store import public_mode

log = logging.getLogger("edgewise")

# output types: name -> llama_ftype (llama.h)
FTYPES = {
    "F16": 1,
    "Q8_0": 7,
    "Q6_K": 18,
    "Q5_K_M": 17,
    "Q4_K_M": 15,
    "Q4_K_S": 14,
    "Q4_0": 2,
    "IQ4_NL": 25,
    "F32": 0,  # the exact expansion of a quantized file
}
_FLOAT_FILE_TYPES = {"F32", "F16", "BF16"}


def dequantize(src: str | Path, dst: str | Path, *, f32: bool = False) -> Path:
    """Write ``src`` with every quantized tensor dequantized: to F16 (norms and other 1-D
    tensors to F32), or with ``f32`` everything to F32 (the exact values of the weights)."""
    import gguf

    reader = gguf.GGUFReader(str(src))
    writer = gguf.GGUFWriter(str(dst), arch=None)  # type: ignore[arg-type]
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.file_type":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if f32 else gguf.LlamaFileType.MOSTLY_F16)
    for t in reader.tensors:
        data = np.asarray(t.data)
        if t.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            data = gguf.quants.dequantize(data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape))  # numpy order
        data = data.reshape(shape)
        data = data.astype(np.float16 if len(shape) > 1 and not f32 else np.float32)
        writer.add_tensor(t.name, np.ascontiguousarray(data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(dst)


def dequantize_to_f16(src: str | Path, dst: str | Path) -> Path:
    return dequantize(src, dst)


def dequantize_to_f32(src: str | Path, dst: str | Path) -> Path:
    return dequantize(src, dst, f32=True)


def quantize(src: str | Path, quant: str, out: str | Path | None = None) -> Path:
    """Quantize ``src`` to ``quant`` (one of FTYPES) at ``out`` (default: next to ``src``)."""
    from edgewise.engines.llamacpp import quantize_file, smoke_test

    quant = quant.upper()
    if quant not in FTYPES:
        raise InputError(f"unknown quantization {quant!r}; use one of {', '.join(FTYPES)}")
    src = Path(src)
    info = read_gguf(src)  # refuses a non-GGUF or truncated input
    out = Path(out) if out else src.with_name(f"{src.stem}-{quant}.gguf")
    if out.resolve() == src.resolve():
        raise InputError("the output would overwrite the input; choose another -o")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    public_mode(fd)
    os.close(fd)
    tmp = Path(tmp_name)
    f16: Path | None = None
    try:
        if quant == "F32":  # the exact values of the weights: nothing rounded
            dequantize_to_f32(src, tmp)
        elif (info.file_type or "").upper() in _FLOAT_FILE_TYPES:
            quantize_file(src, tmp, FTYPES[quant])
        else:
            fd, f16_name = tempfile.mkstemp(
                prefix=f".{src.stem}.", suffix=".f16.part", dir=out.parent
            )
            os.close(fd)
            f16 = Path(f16_name)
            log.info("dequantizing %s (%s) to F16 first", src.name, info.file_type)
            dequantize_to_f16(src, f16)
            if quant == "F16":
                os.replace(f16, tmp)
                f16 = None
            else:
                quantize_file(f16, tmp, FTYPES[quant])
        smoke_test(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if f16 is not None:
            f16.unlink(missing_ok=True)
    return out


def derived_path(model_id: str, quant: str) -> Path:
    from edgewise.store import models_dir

    return models_dir() / "derived" / f"{model_id}-{quant.upper()}.gguf"


def derived(model_id: str, source: Path, quant: str) -> Path:
    """The ``quant`` version of a bundled model, made once into EDGEWISE_HOME."""
    path = derived_path(model_id, quant)
    if path.is_file():
        return path
    log.info("making %s:%s from the bundled file (once)", model_id, quant)
    try:
        return quantize(source, quant, path)
    except ModelLoadError:
        raise
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
