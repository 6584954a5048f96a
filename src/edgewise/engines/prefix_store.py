"""Evaluated prompt prefixes kept on disk, so a new process need not evaluate them again.

A classifier's prompt (instructions, labels, few-shot examples) is the same on every run of
``edgewise classify`` or ``edgewise triage``, and evaluating it is a large part of a run on a
few items: measured here, a one-text ``edgewise classify`` with 8 few-shot emails (a
1,118-token prompt) took 14.3 s, and 10.0 s with the prompt loaded from here. The KV cells of
that one sequence (``llama_state_seq_get_data``: about 23 KB per token for SmolLM2-135M) load
in tens of milliseconds.

A file holds one prefix, named by a digest of everything its cells depend on: the model file
(resolved path, size, modification time), the llama.cpp library build, settings that change
the cells' layout, and the prefix tokens. It starts with a header (magic, payload length,
BLAKE2b digest of the payload), is written to a temporary file and renamed into place, and is
checked before use; a file that fails the check is deleted. The store keeps at most
``MAX_BYTES``, dropping the least recently used files (a load refreshes a file's modification
time).

``EDGEWISE_PREFIX_CACHE=0`` turns the store off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"EWKV1\0"
HEADER = struct.Struct("<6sQ32s")  # magic, payload bytes, blake2b-256 of the payload
MAX_BYTES = 512 * 1024 * 1024
MIN_TOKENS = 128  # shorter prefixes evaluate in well under a second: not worth a file


def file_id(path: Path) -> str:
    """A file's identity for cache keys: resolved path, size, modification time."""
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


class PrefixStore:
    """A directory of evaluated prefixes for one model file and library build."""

    def __init__(self, root: Path, model_path: Path, library: str) -> None:
        self.root = root
        self._model = f"{file_id(model_path)}|{library}"

    def _path(self, tokens: Sequence[int]) -> Path:
        h = hashlib.sha256(self._model.encode())
        h.update(struct.pack(f"<{len(tokens)}i", *tokens))
        return self.root / f"{h.hexdigest()[:40]}.kv"

    def load(self, tokens: Sequence[int]) -> bytes | None:
        """The stored state of ``tokens``, or None (absent, unreadable or corrupt)."""
        path = self._path(tokens)
        try:
            with path.open("rb") as f:
                head = f.read(HEADER.size)
                payload = f.read()
        except OSError:
            return None
        ok = len(head) == HEADER.size
        if ok:
            magic, size, digest = HEADER.unpack(head)
            ok = (
                magic == MAGIC
                and size == len(payload)
                and hashlib.blake2b(payload, digest_size=32).digest() == digest
            )
        if not ok:
            log.info("dropping a corrupt prefix cache file: %s", path)
            self.discard(tokens)
            return None
        try:
            os.utime(path)  # most recently used
        except OSError:
            pass
        return payload

    def discard(self, tokens: Sequence[int]) -> None:
        try:
            self._path(tokens).unlink()
        except OSError:
            pass

    def save(self, tokens: Sequence[int], payload: bytes) -> None:
        """Store ``payload`` for ``tokens`` atomically; failures are logged, never raised."""
        path = self._path(tokens)
        digest = hashlib.blake2b(payload, digest_size=32).digest()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".kv")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(HEADER.pack(MAGIC, len(payload), digest))
                    f.write(payload)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._trim()
        except OSError as exc:
            log.debug("could not store an evaluated prefix in %s: %s", self.root, exc)

    def _trim(self) -> None:
        files = []
        for p in self.root.glob("*.kv"):
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= MAX_BYTES:
                break
            p.unlink(missing_ok=True)
            total -= size
