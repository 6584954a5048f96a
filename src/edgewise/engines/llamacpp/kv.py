"""The KV cache as warm prompt slots plus scratch sequences.

The cache holds several sequences. The first ``CACHE_SLOTS`` are slots: each keeps the tokens
of a prompt evaluated earlier, so a new prompt goes to the slot sharing the longest token
prefix with it, the slot is rewound to that prefix (``llama_memory_seq_rm``) and only the new
suffix is evaluated. Several prompts used in alternation (two system prompts on one server)
stay warm at once. ``Llama.save_state()/load_state()`` copy the whole logits matrix and are
never used. The remaining sequences are scratch space for scoring, which copies a slot's
cells into them (``llama_memory_seq_cp``, free in a unified cache).

A slot's prefix can also be kept on disk (``prefix_store``): a new process loads its KV cells
(``llama_state_seq_set_data``, one sequence, no logits) instead of evaluating it again.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgewise.config import Settings
from edgewise.engines.llamacpp.handles import ModelHandles
from edgewise.engines.llamacpp.native import library_id
from edgewise.engines.prefix_store import MIN_TOKENS as PERSIST_MIN_TOKENS
from edgewise.engines.prefix_store import PrefixStore
from edgewise.errors import ContextLengthExceededError, EdgewiseError

log = logging.getLogger("edgewise")

CACHE_SLOTS = 4  # warm prompt prefixes kept in the KV cache
MIN_REUSE = 32  # shared tokens that make a prefix worth keeping warm
GHOSTS = 8  # token lists of recently evicted prompts, to notice recurring prefixes
SCRATCH_SEQS = 124  # sequences for candidates / batch items sharing a prefix (77+ labels)


def sequences_for(n_ctx: int) -> int:
    """The context's sequence count: the slots and as many scratch sequences as fit.

    llama.cpp aborts on more sequences than a small context can hold: keep at least two
    cells per sequence (n_ctx 64 -> 32 sequences).
    """
    return min(CACHE_SLOTS + SCRATCH_SEQS, max(CACHE_SLOTS + 1, n_ctx // 2))


def prefix_store(settings: Settings, path: Path) -> PrefixStore | None:
    """The on-disk store of ``path``'s prompt prefixes, keyed by the llama.cpp build (None
    when EDGEWISE_PREFIX_CACHE=0)."""
    if not settings.prefix_cache:
        return None
    return PrefixStore(
        settings.home / "cache" / "prefixes",
        path,
        f"{library_id()}|flash_attn={settings.flash_attn}",  # V cells' layout differs
    )


@dataclass
class Slot:
    seq: int
    tokens: list[int] = field(default_factory=list)
    used: float = 0.0
    hot: bool = False  # reused at least once: worth keeping warm


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n, limit = 0, min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    return n


class KVCache:
    """Slots, scratch sequences and the decode calls that fill them (see the module docstring).

    ``stats`` counts prompt tokens, the cached and disk-loaded ones among them, decode calls,
    and the tokens scoring evaluated; the engine shows the same dict as ``engine.stats``.
    """

    def __init__(
        self,
        native: ModelHandles,
        *,
        n_ctx: int,
        n_batch: int,
        n_seq_max: int,
        store: PrefixStore | None,
    ) -> None:
        self.native = native
        self.lib = native.lib
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.stats = {
            "prompt_tokens": 0,
            "cached_tokens": 0,
            "decode_calls": 0,
            "disk_tokens": 0,
            "scored_tokens": 0,  # score_batch items' and continuations' tokens evaluated
        }
        self.store = store
        self.slots = [Slot(seq=i) for i in range(CACHE_SLOTS)]
        self.ghosts: list[list[int]] = []
        self.scratch = list(range(CACHE_SLOTS, n_seq_max))

    def decode(
        self,
        tokens: Sequence[int],
        pos: Sequence[int],
        seqs: Sequence[Sequence[int]],
        logits: Sequence[bool],
        keep: set[int],
    ) -> None:
        """One llama_decode call; on a full KV cache, evict cold slots and retry."""
        batch = self.native.batch
        batch.fill(tokens, pos, seqs, logits)
        while True:
            rc = self.lib.llama_decode(self.native.ctx.ctx, batch.batch)
            self.stats["decode_calls"] += 1
            if rc == 0:
                return
            if rc == 1 and self.evict(keep):
                batch.fill(tokens, pos, seqs, logits)
                continue
            if rc == 1:
                raise ContextLengthExceededError(max(pos) + 1, self.n_ctx)
            raise EdgewiseError(
                f"llama.cpp failed to evaluate the prompt (llama_decode returned {rc})"
            )

    def evict(self, keep: set[int]) -> bool:
        """Drop the least recently used slot not in ``keep``; False if none is left."""
        cold = [s for s in self.slots if s.seq not in keep and s.tokens]
        if not cold:
            return False
        self.drop(min(cold, key=lambda s: (s.hot, s.used)))
        return True

    def drop(self, slot: Slot) -> None:
        """Evict a slot's KV cells; remember its tokens as a ghost (evidence of reuse)."""
        if slot.tokens:
            self.ghosts.append(slot.tokens)
            del self.ghosts[:-GHOSTS]
        self.lib.llama_memory_seq_rm(self.native.mem, slot.seq, -1, -1)
        slot.tokens, slot.hot = [], False

    def slot_for(self, tokens: Sequence[int]) -> tuple[Slot, int]:
        """Choose the slot for a prompt and how many of its tokens are already cached.

        Every warm token costs attention time for every later token (all sequences share one
        unified KV cache), so only prefixes that recur are kept: a slot becomes "hot" when a
        later prompt reuses at least MIN_REUSE of its tokens, or when a new prompt matches a
        recently evicted one. Slots that were never reused are evicted when another is needed.
        """
        best = max(self.slots, key=lambda s: (common_prefix(s.tokens, tokens), s.used))
        n = common_prefix(best.tokens, tokens)
        if n >= MIN_REUSE:
            best.hot = True
        if best.tokens and (n == len(best.tokens) or 2 * n >= len(best.tokens)):
            return best, n  # the prompt extends this slot, or mostly shares it
        # A short overlap must not destroy another warm prefix: take an empty or cold slot,
        # copying the shared part into it (free in a unified KV cache).
        for slot in self.slots:
            if slot is not best and not slot.hot:
                self.drop(slot)
        if not best.hot:
            target = best
            n = 0 if not best.tokens else n
        else:
            others = [s for s in self.slots if s is not best]
            target = min(others, key=lambda s: (bool(s.tokens), s.used))
            self.drop(target)
            if n > 0:
                self.lib.llama_memory_seq_cp(self.native.mem, best.seq, target.seq, 0, n)
                target.tokens = best.tokens[:n]
        if target is best and n < len(best.tokens):
            self.ghosts.append(best.tokens[:])
            del self.ghosts[:-GHOSTS]
        target.hot = any(common_prefix(g, tokens) >= MIN_REUSE for g in self.ghosts)
        # Hot slots other than the target may hold at most half the context.
        warm = sorted((s for s in self.slots if s is not target and s.tokens), key=lambda s: s.used)
        while warm and sum(len(s.tokens) for s in warm) > self.n_ctx // 2:
            self.drop(warm.pop(0))
        return target, n

    def eval_prefix(
        self, tokens: list[int], *, need_logits: bool, persist: bool = False
    ) -> tuple[Slot, int]:
        """Bring a slot to hold exactly ``tokens``; evaluate only what is not cached.

        Returns the slot and how many tokens were reused. With ``need_logits`` the last
        token is always evaluated, so its logits are available at output index -1, and always
        in a decode call of its own: llama.cpp's one-token kernels round differently from its
        batch kernels, and a prompt seen before (all but its last token cached) must give the
        same logits, so the same greedy output, as the first time (measured: an extraction
        read an age of 71 as 20 on a cold cache only). With ``persist`` the prefix is loaded
        from, or else saved to, the on-disk prefix store.
        """
        if len(tokens) >= self.n_ctx:
            raise ContextLengthExceededError(len(tokens), self.n_ctx)
        slot, common = self.slot_for(tokens)
        if need_logits:
            common = min(common, len(tokens) - 1)
        persist = persist and not need_logits and self.store is not None
        persist = persist and len(tokens) >= PERSIST_MIN_TOKENS
        if persist and len(tokens) - common >= PERSIST_MIN_TOKENS and self.restore(slot, tokens):
            self.stats["prompt_tokens"] += len(tokens)
            self.stats["cached_tokens"] += len(tokens)
            self.stats["disk_tokens"] += len(tokens)
            return slot, len(tokens)
        self.lib.llama_memory_seq_rm(self.native.mem, slot.seq, common, -1)
        del slot.tokens[common:]
        slot.used = time.monotonic()
        keep = {slot.seq}
        pos = common
        while pos < len(tokens):
            stop = len(tokens) - 1 if need_logits and pos < len(tokens) - 1 else len(tokens)
            chunk = tokens[pos : min(pos + self.n_batch, stop)]
            end = pos + len(chunk)
            flags = [False] * len(chunk)
            if need_logits and end == len(tokens):
                flags[-1] = True
            try:
                self.decode(chunk, range(pos, end), [[slot.seq]] * len(chunk), flags, keep)
            except BaseException:
                self.lib.llama_memory_seq_rm(self.native.mem, slot.seq, len(slot.tokens), -1)
                raise
            slot.tokens.extend(chunk)
            pos = end
        self.stats["prompt_tokens"] += len(tokens)
        self.stats["cached_tokens"] += common
        if persist and common < len(tokens):
            self.persist(slot)
        return slot, common

    def restore(self, slot: Slot, tokens: list[int]) -> bool:
        """Load ``tokens``' KV cells from the prefix store into ``slot``; False if absent."""
        assert self.store is not None
        payload = self.store.load(tokens)
        if payload is None:
            return False
        buf = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
        # llama.cpp empties the sequence, then needs one contiguous run of free cells
        ctx = self.native.ctx.ctx
        if self.lib.llama_state_seq_set_data(ctx, buf, len(payload), slot.seq) == 0:
            self.lib.llama_memory_seq_rm(self.native.mem, slot.seq, -1, -1)
            slot.tokens = []
            log.debug("a stored prefix did not fit the KV cache; evaluating it instead")
            return False
        slot.tokens = list(tokens)
        slot.used = time.monotonic()
        return True

    def persist(self, slot: Slot) -> None:
        """Save ``slot``'s KV cells (exactly its tokens) to the prefix store."""
        assert self.store is not None
        ctx = self.native.ctx.ctx
        size = self.lib.llama_state_seq_get_size(ctx, slot.seq)
        buf = (ctypes.c_uint8 * size)()
        if self.lib.llama_state_seq_get_data(ctx, buf, size, slot.seq) != size:
            return
        self.store.save(slot.tokens, bytes(buf))
