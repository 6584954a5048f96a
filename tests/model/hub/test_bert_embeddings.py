"""A BERT-family encoder converted to GGUF embeds through the same engine.

The model is a tiny BERT with random weights, written in Hugging Face layout at test time,
converted by ``edgewise.hub.convert`` and run by llama.cpp. Its vectors are compared with an
independent numpy forward pass, which checks the converter (tensor names, vocabulary, special
tokens), the encoder path of the engine and that the pooling type comes from the file.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

import edgewise
from edgewise.errors import CapabilityError, InputError
from edgewise.hub.convert import bert_to_gguf, read_safetensors

WORDS = ["the", "card", "lost", "block", "please", "my", "it", "bank", "money", "send"]
VOCAB = ["[PAD]"] + [f"[unused{i}]" for i in range(3)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB += WORDS + ["##s", "##ed", ",", ".", "!", "?"]
CONFIG = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "vocab_size": len(VOCAB),
}


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def _tiny_bert(root: Path, pooling: str) -> Path:
    rng = np.random.default_rng(7)
    h, ff = CONFIG["hidden_size"], CONFIG["intermediate_size"]

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.2, shape).astype(np.float32)

    t = {
        "embeddings.word_embeddings.weight": w(len(VOCAB), h),
        "embeddings.position_embeddings.weight": w(CONFIG["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": w(2, h),
        "embeddings.LayerNorm.weight": 1 + w(h),
        "embeddings.LayerNorm.bias": w(h),
        "pooler.dense.weight": w(h, h),  # dropped by the converter, as llama.cpp does
        "pooler.dense.bias": w(h),
    }
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value"):
            t[p + name + ".weight"], t[p + name + ".bias"] = w(h, h), w(h)
        t[p + "attention.output.dense.weight"], t[p + "attention.output.dense.bias"] = w(h, h), w(h)
        t[p + "attention.output.LayerNorm.weight"] = 1 + w(h)
        t[p + "attention.output.LayerNorm.bias"] = w(h)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = w(ff, h), w(ff)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(h, ff), w(h)
        t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"] = 1 + w(h), w(h)
    root.mkdir(parents=True)
    _write_safetensors(root / "model.safetensors", t)
    (root / "config.json").write_text(json.dumps(CONFIG))
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (root / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (root / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                }
            ]
        )
    )
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(json.dumps({f"pooling_mode_{pooling}": True}))
    return root


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w + b


def _reference(t: dict[str, np.ndarray], ids: list[int], pooling: str) -> np.ndarray:
    """Hugging Face BertModel forward in numpy, then pooling and L2 normalization."""
    n, heads = len(ids), CONFIG["num_attention_heads"]
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n]
    x = x + t["embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    erf = np.vectorize(math.erf)
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name: str, y: np.ndarray, p: str = p) -> np.ndarray:
            return y @ t[p + name + ".weight"].T + t[p + name + ".bias"]

        def split(y: np.ndarray) -> np.ndarray:
            return y.reshape(n, heads, -1).transpose(1, 0, 2)

        q, k, v = (split(lin(f"attention.self.{m}", x)) for m in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = (a @ v).transpose(1, 0, 2).reshape(n, -1)
        x = _layer_norm(
            x + lin("attention.output.dense", o),
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        hidden = lin("intermediate.dense", x)
        hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
        x = _layer_norm(
            x + lin("output.dense", hidden),
            t[p + "output.LayerNorm.weight"],
            t[p + "output.LayerNorm.bias"],
        )
    vec = x.mean(0) if pooling == "mean_tokens" else x[0]
    return vec / np.linalg.norm(vec)


TEXTS = ["Please block my card!", "The bank lost my money.", "Send it", "cards blocked?"]


@pytest.mark.parametrize("pooling", ["mean_tokens", "cls_token"])
def test_converted_bert_matches_reference_forward(tmp_path, pooling):
    src = _tiny_bert(tmp_path / "bert", pooling)
    out = bert_to_gguf(src, tmp_path / "tiny-bert.gguf", f16=False)
    weights = read_safetensors(src / "model.safetensors")
    with edgewise.load(str(out)) as eng:
        assert eng.info.architecture == "bert" and eng.info.pooling_type == (
            1 if pooling == "mean_tokens" else 2
        )
        # WordPiece through llama.cpp: lowercased, split on punctuation, [CLS] ... [SEP]
        ids = eng._tokenize("Please block my card!", add_bos=True, special=False)
        expected = ["[CLS]", "please", "block", "my", "card", "!", "[SEP]"]
        assert ids == [VOCAB.index(tok) for tok in expected]
        assert eng.tokenize("cards") == [VOCAB.index("card"), VOCAB.index("##s")]

        vectors = eng.embed(TEXTS)
        for text, vec in zip(TEXTS, vectors):
            ids = eng._tokenize(text, add_bos=True, special=False)
            ref = _reference(weights, ids, pooling)
            assert np.abs(np.array(vec) - ref).max() < 2e-3, text
        # batching does not change a vector
        alone = eng.embed([TEXTS[2]])[0]
        assert np.abs(np.array(alone) - np.array(vectors[2])).max() < 1e-4
        with pytest.raises(CapabilityError):
            eng.generate("hello", {"max_tokens": 2})


def test_f16_conversion_stays_close(tmp_path):
    src = _tiny_bert(tmp_path / "bert", "mean_tokens")
    f32 = bert_to_gguf(src, tmp_path / "a.gguf", f16=False)
    f16 = bert_to_gguf(src, tmp_path / "b.gguf")
    assert f16.stat().st_size < f32.stat().st_size
    with edgewise.load(str(f32)) as a, edgewise.load(str(f16)) as b:
        va, vb = np.array(a.embed(TEXTS)), np.array(b.embed(TEXTS))
    assert (va * vb).sum(1).min() > 0.999


def test_convert_rejects_non_bert_and_leaves_nothing(tmp_path):
    src = _tiny_bert(tmp_path / "bert", "mean_tokens")
    (src / "config.json").write_text(json.dumps({**CONFIG, "model_type": "llama"}))
    with pytest.raises(InputError, match="not 'bert'"):
        bert_to_gguf(src, tmp_path / "x.gguf")
    (src / "config.json").write_text(json.dumps(CONFIG))
    (src / "model.safetensors").write_bytes(b"\xff" * 12)
    with pytest.raises(InputError, match="safetensors"):
        bert_to_gguf(src, tmp_path / "x.gguf")
    assert list(tmp_path.glob("*.gguf")) == [] and list(tmp_path.glob(".*part")) == []
