"""A small, defensive GGUF header reader.

llama.cpp trusts the file it is given: a truncated or corrupt GGUF can crash the process.
edgewise reads the header, the metadata and the tensor table itself, computes the size the
file must have, and refuses a file that is not GGUF, is truncated, or is implausible,
before llama.cpp ever sees it. The same reader gives the chat template, architecture,
context length and quantization without loading the weights.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from edgewise.errors import ModelLoadError

MAGIC = b"GGUF"
_MAX_STRING = 64 * 1024 * 1024  # a chat template or a merge list entry is far smaller
_MAX_COUNT = 16 * 1024 * 1024

# value type -> struct format for fixed-size scalars
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9

# ggml tensor type -> (elements per block, bytes per block); from ggml.h / gguf-py constants
GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
    19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56),
    30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip

# llama_ftype (general.file_type) -> name
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}  # fmt: skip


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    def nbytes(self) -> int | None:
        block = GGML_BLOCKS.get(self.ggml_type)
        if block is None:
            return None
        n = 1
        for d in self.shape:
            n *= d
        per, size = block
        return (n // per) * size


@dataclass
class GGUFInfo:
    """What the header of a GGUF file says."""

    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(repr=False)
    data_offset: int
    file_size: int
    expected_size: int | None
    array_lengths: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str | None:
        value = self.metadata.get("general.name")
        return str(value) if value is not None else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return str(value) if value else None

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if value is not None else None

    @property
    def pooling_type(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.pooling_type")
        return int(value) if value is not None else None

    @property
    def file_type(self) -> str | None:
        value = self.metadata.get("general.file_type")
        if value is None:
            return None
        return FILE_TYPES.get(int(value), f"type{value}")

    @property
    def n_params(self) -> int:
        total = 0
        for t in self.tensors:
            n = 1
            for d in t.shape:
                n *= d
            total += n
        return total


class _Reader:
    def __init__(self, fh: BinaryIO, path: Path, size: int) -> None:
        self.fh = fh
        self.path = path
        self.size = size

    def fail(self, reason: str) -> ModelLoadError:
        return ModelLoadError(str(self.path), reason)

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise self.fail(f"file is truncated (header ends early at byte {self.fh.tell()})")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > _MAX_STRING or self.fh.tell() + n > self.size:
            raise self.fail("file is corrupt or truncated (string length past end of file)")
        return self.read(n).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.unpack("<Q")
        if n > _MAX_STRING or self.fh.tell() + n > self.size:
            raise self.fail("file is corrupt or truncated (string length past end of file)")
        self.fh.seek(n, os.SEEK_CUR)

    def value(self, vtype: int, key: str, lengths: dict[str, int]) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype = self.unpack("<I")
            count = self.unpack("<Q")
            if count > _MAX_COUNT:
                raise self.fail(f"implausible array length {count} for {key}")
            lengths[key] = count
            if itype in _SCALARS:
                width = struct.calcsize(_SCALARS[itype])
                if count <= 64:
                    return list(
                        struct.unpack(f"<{count}{_SCALARS[itype][1]}", self.read(width * count))
                    )
                if self.fh.tell() + width * count > self.size:
                    raise self.fail("file is truncated (array past end of file)")
                self.fh.seek(width * count, os.SEEK_CUR)
                return None
            if itype == _STRING:
                if count <= 64:
                    return [self.string() for _ in range(count)]
                for _ in range(count):
                    self.skip_string()
                return None
            raise self.fail(f"unsupported array element type {itype} for {key}")
        raise self.fail(f"unknown metadata value type {vtype} for {key}")


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read and sanity-check a GGUF file's header; raise ModelLoadError if it is unusable."""
    p = Path(path)
    try:
        size = p.stat().st_size
        fh = p.open("rb")
    except IsADirectoryError:
        raise ModelLoadError(str(p), "is a directory, not a GGUF file") from None
    except OSError as exc:
        raise ModelLoadError(str(p), exc.strerror or str(exc)) from None
    with fh:
        r = _Reader(fh, p, size)
        if size < 24:
            raise r.fail(f"not a GGUF file (only {size} bytes)")
        if r.read(4) != MAGIC:
            raise r.fail("not a GGUF file (bad magic bytes); edgewise runs GGUF models only")
        version = r.unpack("<I")
        if version not in (2, 3):
            raise r.fail(f"unsupported GGUF version {version}")
        n_tensors = r.unpack("<Q")
        n_kv = r.unpack("<Q")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise r.fail("file is corrupt (implausible tensor or metadata count)")
        metadata: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        for _ in range(n_kv):
            key = r.string()
            vtype = r.unpack("<I")
            metadata[key] = r.value(vtype, key, lengths)
        tensors: list[TensorInfo] = []
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.unpack("<I")
            if n_dims > 8:
                raise r.fail(f"file is corrupt (tensor {name} has {n_dims} dimensions)")
            shape = tuple(r.unpack("<Q") for _ in range(n_dims))
            ggml_type = r.unpack("<I")
            offset = r.unpack("<Q")
            tensors.append(TensorInfo(name, shape, ggml_type, offset))
        alignment = int(metadata.get("general.alignment", 32) or 32)
        pos = fh.tell()
        data_offset = pos + (-pos % alignment)
    ends = [t.nbytes() for t in tensors]
    expected: int | None = None
    if None not in ends:  # an unknown tensor type: the size cannot be checked
        expected = max(
            [data_offset] + [data_offset + t.offset + (n or 0) for t, n in zip(tensors, ends)]
        )
    info = GGUFInfo(p, version, metadata, tensors, data_offset, size, expected, lengths)
    if not tensors:
        raise ModelLoadError(str(p), "GGUF file holds no tensors")
    if expected is not None and size < expected:
        raise ModelLoadError(
            str(p),
            f"file is truncated: {size} bytes, but its tensors need {expected} bytes "
            "(an interrupted download? fetch it again)",
        )
    return info
