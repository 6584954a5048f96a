"""Continuation scoring: log-probabilities of candidate continuations after shared prompts.

The prompt (prefix) is evaluated once into a KV slot and stays cached for the next call. Each
item, and each multi-token continuation, becomes a scratch sequence that shares the prefix's
KV cells (``llama_memory_seq_cp``), and as many as fit are evaluated in one ``llama_decode``
call. Items that start with the same tokens evaluate those once, and an item given twice is
evaluated once. More multi-token continuations than scratch sequences (a classifier with 150
labels) are scored in runs, each over the cached prefix.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from edgewise.engines.base import ScoreRequest
from edgewise.engines.llamacpp.kv import KVCache, Slot
from edgewise.engines.logits import log_softmax_at
from edgewise.types import ContinuationScore


@dataclass
class _Job:
    """Tokens to evaluate on top of a shared prefix, as one or more sequences."""

    share: int  # number of prefix tokens (from the slot) this job's sequences start with
    tokens: list[int]
    # token index -> {token id: log-probability} for the ids scored from that position (not
    # the whole vocabulary row: a chunk of items would otherwise hold hundreds of 200 KB rows)
    rows: dict[int, dict[int, float]] = field(default_factory=dict)
    same: _Job | None = None  # an identical earlier job whose rows this one takes


def _shared(a: _Job | None, b: _Job) -> int:
    """Leading tokens ``b`` can share with ``a`` (0 unless they start at the same place)."""
    if a is None or a.share != b.share:
        return 0
    n, limit = 0, min(len(a.tokens), len(b.tokens))
    while n < limit and a.tokens[n] == b.tokens[n]:
        n += 1
    return n


class ContinuationScorer:
    """Scores a ``ScoreRequest`` in the KV cache's slots and scratch sequences; the caller
    holds the engine's lock."""

    def __init__(self, kv: KVCache) -> None:
        self.kv = kv
        self.native = kv.native
        self.lib = kv.lib
        self.n_batch = kv.n_batch
        self.stats = kv.stats

    def score(self, request: ScoreRequest, *, persist: bool) -> list[list[ContinuationScore]]:
        """Score every continuation after ``prefix + item`` for every item; ``persist``
        keeps the prefix on disk (see ``KVCache.eval_prefix``)."""
        conts, names = request.continuations, request.names
        # every multi-token continuation of an item takes a scratch sequence, so more of them
        # than there are scratch sequences are scored in runs that each fit
        runs: list[list[int]] = [[]]
        n_multi = 0
        for k, c in enumerate(conts):
            if len(c) > 1:
                if n_multi == len(self.kv.scratch):
                    runs.append([])
                    n_multi = 0
                n_multi += 1
            runs[-1].append(k)
        rows: list[list[ContinuationScore]] = [[] for _ in request.items]
        for run in runs:
            part = self._score_batch(
                request.prefix,
                request.items,
                [conts[k] for k in run],
                [names[k] for k in run],
                persist,
            )
            for row, scores in zip(rows, part):
                row.extend(scores)
        return rows

    def _score_batch(
        self,
        prefix: list[int],
        items: list[list[int]],
        conts: list[list[int]],
        texts: Sequence[str],
        persist: bool = False,
    ) -> list[list[ContinuationScore]]:
        multi = [k for k, c in enumerate(conts) if len(c) > 1]
        slot: Slot | None
        if prefix:
            slot, _ = self.kv.eval_prefix(prefix, need_logits=False, persist=persist)
            slot_seq = slot.seq
        else:
            slot_seq, slot = -1, None
        jobs: list[_Job] = []
        for it in items:
            share = len(prefix)
            toks = list(it)
            if not toks:  # an empty item borrows the prefix's last token
                share -= 1
                toks = [prefix[-1]]
            jobs.append(_Job(share=share, tokens=toks))
        results: list[list[ContinuationScore]] = [[] for _ in items]
        n_seqs_per_job = max(1, len(multi))  # at most the scratch sequences (score)
        # Items in token order, so that items starting alike ("Re: [list] ...") sit next to
        # each other and evaluate their common leading tokens once, in cells all their
        # sequences share; an item identical to another is not evaluated again.
        order = sorted(jobs, key=lambda j: (j.share, j.tokens))
        unique: list[_Job] = []
        for job in order:
            if unique and unique[-1].share == job.share and unique[-1].tokens == job.tokens:
                job.same = unique[-1]
            else:
                unique.append(job)
        # Group jobs so each group's tokens fit a batch and its sequences fit the scratch ids.
        extra = sum(len(conts[k]) - 1 for k in multi)
        group: list[_Job] = []
        group_tokens = 0
        for job in unique:
            size = len(job.tokens) - _shared(group[-1] if group else None, job) + extra
            if group and (
                group_tokens + size > self.n_batch
                or (len(group) + 1) * n_seqs_per_job > len(self.kv.scratch)
            ):
                self._run_group(group, slot_seq, conts, multi)
                group, group_tokens = [], 0
                size = len(job.tokens) + extra
            group.append(job)
            group_tokens += size
        if group:
            self._run_group(group, slot_seq, conts, multi)
        for job in jobs:
            if job.same is not None:
                job.rows = job.same.rows
        for j, job in enumerate(jobs):
            last = len(job.tokens) - 1
            row0 = job.rows[last]
            for k, c in enumerate(conts):
                lps = [row0[c[0]]]
                if len(c) > 1:
                    base = len(job.tokens) + sum(len(conts[m]) - 1 for m in multi[: multi.index(k)])
                    for t in range(1, len(c)):
                        lps.append(job.rows[base + t - 1][c[t]])
                results[j].append(
                    ContinuationScore(text=texts[k], logprob=float(sum(lps)), token_logprobs=lps)
                )
        if slot is not None:
            slot.used = time.monotonic()
        return results

    def _run_group(
        self, group: list[_Job], slot_seq: int, conts: list[list[int]], multi: list[int]
    ) -> None:
        """Evaluate a group of jobs (in token order) in shared-prefix scratch sequences.

        Each job gets one sequence per multi-token continuation (or one). The leading tokens
        a run of consecutive jobs has in common are fed once, as cells belonging to all
        their sequences: llama.cpp masks a token by its first sequence id, and each such
        cell's ancestors carry every sequence of the run, so the result equals evaluating
        each job alone. Only the rows needed for scoring are kept.
        """
        lib = self.lib
        mem = self.native.mem
        free = list(self.kv.scratch)
        used: list[int] = []
        flat_tok: list[int] = []
        flat_pos: list[int] = []
        flat_seq: list[list[int]] = []
        flat_out: list[bool] = []
        owners: list[tuple[_Job, int, list[int]]] = []  # per output: job, index, ids to score
        firsts = [c[0] for c in conts]
        try:
            seqs = [[free.pop() for _ in range(max(1, len(multi)))] for _ in group]
            for job, own in zip(group, seqs):
                used.extend(own)
                if slot_seq >= 0 and job.share > 0:
                    for s in own:
                        lib.llama_memory_seq_cp(mem, slot_seq, s, 0, job.share)
            # common[j]: leading tokens job j shares with job j - 1
            common = [0] + [_shared(a, b) for a, b in zip(group, group[1:])]
            for j, job in enumerate(group):
                last = len(job.tokens) - 1
                # the token at depth d belongs to jobs j..k while common[j+1..k] > d: walk
                # the depths upwards, taking in the later jobs that share each one
                runs: list[list[int]] = []
                members, reach = seqs[j], j
                for d in range(last, common[j] - 1, -1):
                    while reach + 1 < len(group) and common[reach + 1] > d:
                        reach += 1
                        members = members + seqs[reach]
                    runs.append(members)
                runs.reverse()
                for i, tok in enumerate(job.tokens[common[j] :], start=common[j]):
                    flat_tok.append(tok)
                    flat_pos.append(job.share + i)
                    flat_seq.append(runs[i - common[j]])
                    out = i == last
                    flat_out.append(out)
                    if out:
                        owners.append((job, last, firsts))
                index = len(job.tokens)
                for n, k in enumerate(multi):
                    c = conts[k]
                    for t in range(len(c) - 1):
                        flat_tok.append(c[t])
                        flat_pos.append(job.share + len(job.tokens) + t)
                        flat_seq.append([seqs[j][n]])
                        flat_out.append(True)
                        owners.append((job, index, [c[t + 1]]))
                        index += 1
            # Split into llama_decode calls of at most n_batch tokens; collect output rows.
            self.stats["scored_tokens"] += len(flat_tok)
            start = 0
            n_read = 0
            keep = {slot_seq, *used}
            while start < len(flat_tok):
                end = min(start + self.n_batch, len(flat_tok))
                self.kv.decode(
                    flat_tok[start:end],
                    flat_pos[start:end],
                    flat_seq[start:end],
                    flat_out[start:end],
                    keep,
                )
                for i in range(start, end):
                    if flat_out[i]:
                        job, idx, ids = owners[n_read]
                        n_read += 1
                        # llama_get_logits_ith takes the token's index in the batch
                        lps = log_softmax_at(self.native.logits_row(i - start), ids)
                        job.rows[idx] = dict(zip(ids, lps))
                start = end
        finally:
            for s in used:
                lib.llama_memory_seq_rm(mem, s, -1, -1)
