"""A Thompson NFA for a pattern, so that matching never backtracks.

Python's ``re`` backtracks: ``^(a+)+$`` against 30 a's and a b takes minutes to fail. The
parser (``pattern``) builds the automaton fragment by fragment, with the same reading of the
pattern that writes the grammar; ``Matcher`` walks the set of states the text so far can
reach, in time linear in the text.
"""

from __future__ import annotations

from collections.abc import Callable

from edgewise.structured.charsets import Ranges


class _Nfa:
    """States with epsilon moves (``eps``) and moves on a set of code points (``moves``).

    Python's ``re`` backtracks: ``^(a+)+$`` against 30 a's and a b takes minutes to fail.
    Walking the set of reachable states takes time linear in the text instead.
    """

    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.moves: list[list[tuple[Ranges, int]]] = []

    def state(self) -> int:
        self.eps.append([])
        self.moves.append([])
        return len(self.eps) - 1

    def link(self, a: int, b: int) -> None:
        self.eps[a].append(b)


Build = Callable[[_Nfa], tuple[int, int]]  # adds a fragment's states: its start and end


def empty(nfa: _Nfa) -> tuple[int, int]:
    """The fragment that matches the empty string only (one state)."""
    state = nfa.state()
    return state, state


def one_of(ranges: Ranges) -> Build:
    """The fragment that reads one character among ``ranges``."""

    def build(nfa: _Nfa) -> tuple[int, int]:
        start, end = nfa.state(), nfa.state()
        nfa.moves[start].append((ranges, end))
        return start, end

    return build


def chain(builds: list[Build]) -> Build:
    """The fragments one after the other."""

    def build(nfa: _Nfa) -> tuple[int, int]:
        start = end = nfa.state()
        for part in builds:
            first, last = part(nfa)
            nfa.link(end, first)
            end = last
        return start, end

    return build


def branch(builds: list[Build]) -> Build:
    """Any one of the fragments."""

    def build(nfa: _Nfa) -> tuple[int, int]:
        start, end = nfa.state(), nfa.state()
        for part in builds:
            first, last = part(nfa)
            nfa.link(start, first)
            nfa.link(last, end)
        return start, end

    return build


def repeat(part: Build, lo: int, hi: int | None) -> Build:
    """``part`` ``lo`` to ``hi`` times (``None``: no bound): copies, as the grammar makes."""

    def build(nfa: _Nfa) -> tuple[int, int]:
        start = end = nfa.state()
        for _ in range(lo):
            first, last = part(nfa)
            nfa.link(end, first)
            end = last
        if hi is None:  # a loop: end -> part -> end
            first, last = part(nfa)
            nfa.link(end, first)
            nfa.link(last, end)
            return start, end
        out = nfa.state()
        for _ in range(hi - lo):
            nfa.link(end, out)
            first, last = part(nfa)
            nfa.link(end, first)
            end = last
        nfa.link(end, out)
        return start, out

    return build


def _within(code: int, ranges: Ranges) -> bool:
    return any(lo <= code <= hi for lo, hi in ranges)


Memo = dict[tuple[frozenset[int], int], frozenset[int]]  # steps taken within one text


class Matcher:
    """``search(text)``: does the pattern match somewhere in ``text`` (ECMA-262's reading),
    in time linear in the text: it walks the set of states the text so far can reach."""

    MEMO = 1024  # steps remembered within one search (a text repeating itself goes faster)

    def __init__(self, alternatives: list[tuple[Build, bool, bool]]) -> None:
        nfa = _Nfa()
        self._nfa = nfa
        anchored: list[int] = []  # starts allowed at position 0 only
        floating: list[int] = []  # starts allowed anywhere
        self._final: set[int] = set()  # ends that accept anywhere
        self._final_at_end: set[int] = set()  # ends that accept at the end of the text only
        # every alternative has ^ and $: the pattern describes a whole value, not a part of one
        self.anchored = all(at_start and at_end for _, at_start, at_end in alternatives)
        for part, at_start, at_end in alternatives:
            first, last = part(nfa)
            (anchored if at_start else floating).append(first)
            (self._final_at_end if at_end else self._final).add(last)
        self._floating = self._closure(floating)
        self._start = self._closure(anchored) | self._floating

    def _closure(self, states: list[int]) -> frozenset[int]:
        seen = set(states)
        stack = list(seen)
        while stack:
            for nxt in self._nfa.eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return frozenset(seen)

    def _step(
        self, states: frozenset[int], code: int, memo: Memo, also: frozenset[int]
    ) -> frozenset[int]:
        """The states after reading ``code``, with ``also`` added; remembered in ``memo``."""
        nxt = memo.get((states, code))
        if nxt is None:
            moves = self._nfa.moves
            moved = [t for s in states for ranges, t in moves[s] if _within(code, ranges)]
            nxt = self._closure(moved) | also
            if len(memo) < self.MEMO:
                memo[states, code] = nxt
        return nxt

    def search(self, text: str) -> bool:
        states = self._start
        memo: Memo = {}
        for code in map(ord, text):
            if not self._final.isdisjoint(states):
                return True
            states = self._step(states, code, memo, self._floating)  # a match may start anywhere
        return not (self._final.isdisjoint(states) and self._final_at_end.isdisjoint(states))

    def ends(self, text: str, start: int = 0) -> list[int]:
        """Every ``end`` (ascending) such that one alternative matches ``text[start:end]``
        whole, from its first piece to its last, anchored or not: the parts of a text from
        ``start`` that are values the pattern allows. Linear in the text, like ``search``."""
        states = self._start
        final = self._final | self._final_at_end
        found = [] if final.isdisjoint(states) else [start]
        memo: Memo = {}
        for pos in range(start, len(text)):
            states = self._step(states, ord(text[pos]), memo, frozenset())
            if not states:
                break
            if not final.isdisjoint(states):
                found.append(pos + 1)
        return found
