"""A scripted engine for fast tests of code built on the Engine protocol.

Responses are queued (``enqueue``) and returned in order, like llm's MockModel; scores
come from a handler (default: a deterministic function of prompt and continuation); every
call is recorded in ``calls``. No weights, no llama.cpp.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from edgewise import chat_template
from edgewise.engines.base import (
    Prompt,
    StopMatcher,
    as_messages,
    check_prompt,
    check_texts,
    collect,
)
from edgewise.errors import ContextLengthExceededError, EdgewiseError, check_unicode
from edgewise.structured import compile_schema
from edgewise.types import (
    Chunk,
    Completion,
    ContinuationScore,
    GenerationOptions,
    Message,
    Timings,
    Usage,
)

Scorer = Callable[[str, str], float]


def _default_scorer(prompt: str, continuation: str) -> float:
    digest = hashlib.sha256(f"{prompt}\x00{continuation}".encode()).digest()
    return -1.0 - digest[0] / 64.0


class FakeEngine:
    """A deterministic stand-in for a real engine."""

    supports_grammar: ClassVar[bool] = True
    supports_embeddings: ClassVar[bool] = True
    supports_scoring: ClassVar[bool] = True

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
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """One token per whitespace-separated word."""
        out = []
        for word in check_unicode(text).split():
            tok = int(hashlib.md5(word.encode()).hexdigest()[:6], 16)
            self._words[tok] = word
            out.append(tok)
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        return " ".join(self._words.get(t, "?") for t in tokens)

    def prompt_tokens(self, prompt: Prompt, *, rendered: bool = False) -> list[int]:
        return self.tokenize(self._text(prompt))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        return chat_template.plain(
            as_messages(messages), add_generation_prompt=add_generation_prompt
        )

    def _text(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else self.render(as_messages(prompt))

    # generation -------------------------------------------------------------------------
    def stream(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Iterator[Chunk]:
        opts = GenerationOptions.parse(options)
        check_prompt(prompt)
        if schema is not None:
            compile_schema(schema)
        text = self._text(prompt)
        n_prompt = self.count_tokens(text)
        if n_prompt >= self.n_ctx:
            raise ContextLengthExceededError(n_prompt, self.n_ctx)
        self.calls.append({"op": "generate", "prompt": text, "options": opts, "schema": schema})
        if self.queue:
            response = self.queue.popleft()
        elif self.default_response is not None:
            response = self.default_response
        else:
            raise EdgewiseError("FakeEngine has no scripted response left")
        return self._stream(response, opts, n_prompt)

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

    def generate(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Completion:
        return collect(self.stream(prompt, options, schema=schema), self.name)

    # scoring ----------------------------------------------------------------------------
    def score(self, prompt: Prompt, continuations: Sequence[str]) -> list[ContinuationScore]:
        check_prompt(prompt)
        return self.score_batch(prompt, [""], continuations)[0]

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
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Hashed character-trigram vectors (64 dims), L2-normalized."""
        out = []
        for text in check_texts(texts):
            vec = [0.0] * 64
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                vec[hashlib.md5(padded[i : i + 3].encode()).digest()[0] % 64] += 1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out

    def close(self) -> None:
        self.closed = True
