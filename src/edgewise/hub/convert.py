"""Convert a Hugging Face BERT-family encoder (safetensors) to a GGUF embedding model.

llama.cpp's own converter needs torch and transformers; this one needs numpy and the ``gguf``
package only, so a sentence-embedding model such as all-MiniLM-L6-v2 becomes a GGUF on a device
where torch is too heavy. It follows llama.cpp's conversion/bert.py: the WordPiece vocabulary is
rewritten to "phantom space" form, the pooling type is read from the sentence-transformers
``modules.json`` / ``1_Pooling/config.json``, and attention is marked non-causal.

The output is written to a temporary file and renamed into place, so an interrupted conversion
never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.errors import InputError

_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "F64": np.float64,
    "I64": np.int64,
    "I32": np.int32,
}
_DEFAULT_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# pooling_mode keys of sentence-transformers' Pooling config -> gguf.PoolingType values
_POOLING = {"pooling_mode_mean_tokens": 1, "pooling_mode_cls_token": 2, "pooling_mode_lasttoken": 3}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read every tensor of a ``.safetensors`` file into float32 numpy arrays."""
    try:
        with path.open("rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            if header_len > 100_000_000:
                raise ValueError("header length is implausible")
            header = json.loads(fh.read(header_len))
            data = fh.read()
    except (OSError, ValueError, struct.error) as exc:
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from None
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        start, end = info["data_offsets"]
        raw = data[start:end]
        if dtype == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif dtype in _DTYPES:
            array = np.frombuffer(raw, dtype=_DTYPES[dtype])
        else:
            raise InputError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        out[name] = array.reshape(info["shape"]).astype(np.float32)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _vocab(model_dir: Path) -> tuple[list[str], set[str], bool]:
    """Tokens in id order, the special (control) tokens, and whether the model lowercases."""
    tok_json = _read_json(model_dir / "tokenizer.json")
    tok_config = _read_json(model_dir / "tokenizer_config.json")
    vocab_txt = model_dir / "vocab.txt"
    if vocab_txt.is_file():
        tokens = vocab_txt.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
    elif tok_json.get("model", {}).get("type") == "WordPiece":
        vocab = tok_json["model"]["vocab"]
        tokens = [tok for tok, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    else:
        raise InputError(f"{model_dir}: no WordPiece vocabulary (vocab.txt or tokenizer.json)")
    special = {t["content"] for t in tok_json.get("added_tokens", []) if t.get("special")}
    special |= {t for t in _DEFAULT_SPECIAL if t in tokens}
    lowercase = tok_json.get("normalizer", {}).get("lowercase")
    if lowercase is None:
        lowercase = tok_config.get("do_lower_case", True)
    return tokens, special, bool(lowercase)


def _pooling_type(model_dir: Path) -> int | None:
    for module in _read_json_list(model_dir / "modules.json"):
        if str(module.get("type", "")).endswith("Pooling"):
            config = _read_json(model_dir / module["path"] / "config.json")
            for key, value in _POOLING.items():
                if config.get(key):
                    return value
    return None


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, list) else []


def bert_to_gguf(model_dir: str | Path, out: str | Path, *, f16: bool = True) -> Path:
    """Convert the BERT encoder in ``model_dir`` to a GGUF embedding model at ``out``.

    ``model_dir`` holds ``config.json``, ``model.safetensors`` and a WordPiece vocabulary, as
    Hugging Face and sentence-transformers save them. Matrices are stored as F16 (``f16=True``)
    or F32; norms and biases always as F32, as llama.cpp expects.
    """
    import gguf  # a core dependency, imported here to keep `import edgewise` light

    model_dir = Path(model_dir)
    out = Path(out)
    config = _read_json(model_dir / "config.json")
    if config.get("model_type") != "bert":
        raise InputError(f"{model_dir}: config.json model_type is not 'bert'")
    weights_path = model_dir / "model.safetensors"
    if not weights_path.is_file():
        raise InputError(f"{model_dir}: model.safetensors is missing")
    tensors = read_safetensors(weights_path)
    tokens, special, lowercase = _vocab(model_dir)
    n_layer = int(config["num_hidden_layers"])

    writer_tmp = tempfile.NamedTemporaryFile(
        prefix=f".{out.name}.", suffix=".part", dir=out.parent, delete=False
    )
    writer_tmp.close()
    tmp = Path(writer_tmp.name)
    try:
        writer = gguf.GGUFWriter(str(tmp), "bert")
        writer.add_name(config.get("_name_or_path") or model_dir.name)
        writer.add_context_length(int(config["max_position_embeddings"]))
        writer.add_embedding_length(int(config["hidden_size"]))
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_block_count(n_layer)
        writer.add_head_count(int(config["num_attention_heads"]))
        writer.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
        writer.add_causal_attention(False)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
        pooling = _pooling_type(model_dir)
        if pooling is not None:
            writer.add_pooling_type(gguf.PoolingType(pooling))

        writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
        writer.add_tokenizer_model("bert")
        writer.add_tokenizer_pre("default")
        toktypes = [
            gguf.TokenType.CONTROL if tok in special else gguf.TokenType.NORMAL for tok in tokens
        ]
        phantom = [
            tok if tok in special else tok[2:] if tok.startswith("##") else "\u2581" + tok
            for tok in tokens
        ]
        writer.add_token_list(phantom)
        writer.add_token_types(toktypes)
        # the PyPI gguf package predates add_normalizer_lowercase; the key is what llama.cpp reads
        writer.add_bool("tokenizer.ggml.normalizer.lowercase", lowercase)
        ids = {tok: i for i, tok in enumerate(tokens)}
        for tok, add in (
            ("[CLS]", writer.add_bos_token_id),
            ("[SEP]", writer.add_sep_token_id),
            ("[UNK]", writer.add_unk_token_id),
            ("[PAD]", writer.add_pad_token_id),
            ("[MASK]", writer.add_mask_token_id),
        ):
            if tok in ids:
                add(ids[tok])

        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layer)
        for name, array in tensors.items():
            name = name.removeprefix("bert.")
            if name.endswith(".gamma"):
                name = name[:-6] + ".weight"
            elif name.endswith(".beta"):
                name = name[:-5] + ".bias"
            if name == "embeddings.position_ids" or name.startswith(("pooler.", "cls.")):
                continue
            new = names.get_name(name, try_suffixes=(".weight", ".bias"))
            if new is None:
                raise InputError(f"{weights_path}: unexpected tensor {name}")
            is_matrix = array.ndim == 2 and name.endswith(".weight")
            if f16 and is_matrix and not new.startswith("token_types"):
                array = array.astype(np.float16)
            writer.add_tensor(new, np.ascontiguousarray(array))

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
