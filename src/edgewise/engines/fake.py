"""A scripted engine for fast tests of code built on the Engine protocol.

Responses are queued (``enqueue``) and returned in order, like llm's MockModel; scores
come from a handler (default: a deterministic function of prompt and continuation); every
call is recorded in ``calls``. No weights, no llama.cpp. Argument checks are
``EngineBase``'s, as on the real engines; unlike them, a closed FakeEngine stays usable (tests
read ``calls`` after closing it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from edgewise.engines.base import (
    EngineBase,
    GenerationRequest,
    Prompt,
    StopMatcher,
    as_messages,
)
from edgewise.errors import EdgewiseError, check_unicode
from edgewise.types import (
    Chunk,
    ContinuationScore,
    GenerationOptions,
    Timings,
    Usage,
)

Scorer = Callable[[str, str], float]


def _default_scorer(prompt: str, continuation: str) -> float:
    digest = hashlib.sha256(f"{prompt}\x00{continuation}".encode()).digest()
    return -1.0 - digest[0] / 64.0


class FakeEngine(EngineBase):
    """A deterministic stand-in for a real engine."""

    supports_grammar: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True
    supports_scoring: ClassVar[bool] = True
    kind: ClassVar[str] = "fake"

    def __init__(
        self,
        responses: Sequence[str] = (),
        *,
        scorer: Scorer | None = None,
        name: str = "fake",
        n_ctx: int = 2048,
        chat_mode: bool = True,
        default_response: str | None = "ok",
    ) -> None:
        self.name = name
        self.n_ctx = n_ctx
        self.chat_mode = chat_mode
        self.queue: deque[str] = deque(responses)
        self.scorer = scorer or _default_scorer
        self.default_response = default_response
        self.calls: list[dict[str, Any]] = []
        self.closed = False
        self._words: dict[int, str] = {}

    def enqueue(self, *responses: str | dict[str, Any]) -> FakeEngine:
        for r in responses:
            self.queue.append(r if isinstance(r, str) else json.dumps(r))
        return self

    # text -------------------------------------------------------------------------------
    def _tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        """One token per whitespace-separated word (no BOS, no special tokens)."""
        out = []
        for word in check_unicode(text).split():
            tok = int(hashlib.md5(word.encode()).hexdigest()[:6], 16)
            self._words[tok] = word
            out.append(tok)
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        return " ".join(self._words.get(t, "?") for t in tokens)

    def _text(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else self.render(as_messages(prompt))

    # generation -------------------------------------------------------------------------
    def _start_stream(self, request: GenerationRequest) -> Iterator[Chunk]:
        text = self._text(request.prompt)
        self.calls.append(
            {"op": "generate", "prompt": text, "options": request.options, "schema": request.schema}
        )
        if self.queue:
            response = self.queue.popleft()
        elif self.default_response is not None:
            response = self.default_response
        else:
            raise EdgewiseError("FakeEngine has no scripted response left")
        return self._stream(response, request.options, len(request.tokens))

    def _stream(self, response: str, opts: GenerationOptions, n_prompt: int) -> Iterator[Chunk]:
        words = response.split(" ")
        stops = StopMatcher(opts.stop)
        n = 0
        finish = "stop"
        for i, word in enumerate(words):
            if n >= opts.max_tokens:
                finish = "length"
                break
            n += 1
            out = stops.feed(word if i == 0 else " " + word)
            if out:
                yield Chunk(text=out)
            if stops.stopped:
                break
        tail = "" if stops.stopped else stops.flush()
        yield Chunk(
            text=tail,
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(prompt_tokens=n_prompt, completion_tokens=n),
            timings=Timings(),
        )

    # scoring ----------------------------------------------------------------------------
    def score_batch(
        self,
        prefix: Prompt | Sequence[int],
        items: Sequence[str | Sequence[int]],
        continuations: Sequence[str | Sequence[int]],
        *,
        persist: bool = False,
    ) -> list[list[ContinuationScore]]:
        if prefix and not isinstance(prefix, str) and isinstance(prefix[0], int):
            base = self.detokenize(prefix) + " "  # type: ignore[arg-type]
        else:
            base = self._text(prefix) if (not isinstance(prefix, str) or prefix) else ""  # type: ignore[arg-type]
        texts = [it if isinstance(it, str) else self.detokenize(it) for it in items]
        conts = [c if isinstance(c, str) else self.detokenize(c) for c in continuations]
        self.calls.append(
            {
                "op": "score",
                "prefix": base,
                "items": texts,
                "continuations": conts,
            }
        )
        out = []
        for item in texts:
            text = base + item
            row = []
            for c in conts:
                lp = self.scorer(text, c)
                n = max(1, self.count_tokens(c))
                row.append(ContinuationScore(text=c, logprob=lp, token_logprobs=[lp / n] * n))
            out.append(row)
        return out

    # embeddings -------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> list[list[float]]:
        """Hashed character-trigram vectors (64 dims), L2-normalized."""
        out = []
        for text in texts:
            vec = [0.0] * 64
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                vec[hashlib.md5(padded[i : i + 3].encode()).digest()[0] % 64] += 1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out

    def close(self) -> None:
        self.closed = True  # recorded only: the fake stays usable (see the module docstring)
