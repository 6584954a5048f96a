"""The Engine protocol every backend implements, and helpers the backends share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from edgewise.errors import EdgewiseError, InputError
from edgewise.types import (
    Chunk,
    Completion,
    ContinuationScore,
    GenerationOptions,
    Message,
    Timings,
)

Prompt = str | Sequence[Message] | Sequence[dict[str, str]]


class RenderedPrompt(str):
    """A prompt string that is already in the model's chat format: a fully templated
    prompt (Ollama's ``raw: true``, ``/v1/completions``), whose special tokens
    ("<|im_start|>") are read as markup. Any other string prompt is plain text."""

    __slots__ = ()


@runtime_checkable
class Engine(Protocol):
    """What tasks need from an inference backend.

    Capabilities are class attributes, so callers can check before calling:
    ``supports_grammar`` (JSON-Schema-constrained generation), ``supports_embeddings``,
    ``supports_scoring`` (log-probabilities of candidate continuations).
    """

    supports_grammar: ClassVar[bool]
    supports_embeddings: ClassVar[bool]
    supports_scoring: ClassVar[bool]
    name: str
    n_ctx: int
    chat_mode: bool  # True when the model has a chat template; False = plain completion

    def generate(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Completion: ...

    def stream(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Iterator[Chunk]: ...

    def score(self, prompt: Prompt, continuations: Sequence[str]) -> list[ContinuationScore]: ...

    def score_batch(
        self,
        prefix: Prompt | Sequence[int],
        items: Sequence[str | Sequence[int]],
        continuations: Sequence[str | Sequence[int]],
        *,
        persist: bool = False,
    ) -> list[list[ContinuationScore]]: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def tokenize(self, text: str, *, special: bool = False) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def prompt_tokens(self, prompt: Prompt, *, rendered: bool = False) -> list[int]: ...

    def count_tokens(self, text: str) -> int: ...

    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str: ...

    def close(self) -> None: ...


_MARK = "\ue000"  # a private-use character: where a message's content goes


def message_tokens(
    engine: Engine, messages: Sequence[Message], rendered_tokens: Callable[[str], list[int]]
) -> list[int]:
    """Tokens of ``messages`` rendered with the chat template, where only the template's
    own text is read for special tokens.

    A message whose content spells a special token ("<|im_end|>" in an email) keeps it as
    plain text, so user text cannot end its turn or start another. Contents that spell none
    give exactly ``rendered_tokens(engine.render(messages))``. ``rendered_tokens`` is the
    engine's tokenizer for rendered text (special tokens parsed, BOS added unless present).
    """
    if not any(
        engine.tokenize(m.content, special=True) != engine.tokenize(m.content) for m in messages
    ):
        return rendered_tokens(engine.render(messages))
    pieces = template_pieces(engine, messages)
    tokens = rendered_tokens(pieces[0])
    for k in range(1, len(pieces), 2):
        tokens += engine.tokenize(pieces[k]) + engine.tokenize(pieces[k + 1], special=True)
    return tokens


def template_pieces(engine: Engine, messages: Sequence[Message]) -> list[str]:
    """The rendered prompt as [template, content, template, ..., content, template].

    Rendered with a marker in place of each message's content, so the text between the
    markers is the template's own. Spaces that end a template piece go with the content
    after it, as they would be tokenized together ("User: Hi" is "User", ":", " Hi").
    """
    marks = [f"{_MARK}{i}{_MARK}" for i in range(len(messages))]
    text = engine.render([Message(role=m.role, content=k) for m, k in zip(messages, marks)])
    probe = f" {_MARK} "  # does the template trim the contents?
    strip = probe not in engine.render([Message(role="user", content=probe)])
    pieces: list[str] = []
    for mark, message in zip(marks, messages):
        head, found, text = text.partition(mark)
        if not found or mark in text:
            raise InputError(
                "a message spells one of the model's special tokens, and this chat template "
                "cannot be rendered around it safely"
            )
        content = message.content.strip() if strip else message.content
        kept = head.rstrip(" ")
        pieces += [kept, head[len(kept) :] + content]
    return [*pieces, text]


def as_messages(prompt: Sequence[Message] | Sequence[dict[str, str]]) -> list[Message]:
    """Coerce dicts to Message, with a clear error for malformed entries."""
    out: list[Message] = []
    for i, m in enumerate(prompt):
        if isinstance(m, Message):
            out.append(m)
            continue
        try:
            out.append(Message.model_validate(m))
        except Exception as exc:  # pydantic ValidationError or TypeError
            raise InputError(f"message {i} is not a valid chat message: {exc}") from None
    return out


def check_texts(texts: object, what: str = "embed") -> list[str]:
    """The texts of a call that takes a list of them; one bare string would be read as its
    characters (one vector per character), so it is an InputError, as anything else is."""
    if isinstance(texts, str):
        raise InputError(f"{what} takes a list of texts, not one string: wrap it as [text]")
    if isinstance(texts, (bytes, Mapping)) or not isinstance(texts, Iterable):
        raise InputError(f"{what} takes a list of texts, not {type(texts).__name__}")
    out = list(texts)
    for text in out:
        if not isinstance(text, str):
            raise InputError(f"{what} takes a list of texts, not {type(text).__name__} items")
    return out


def check_prompt(prompt: Prompt) -> None:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InputError("empty prompt: give some text to complete")
    elif not prompt:
        raise InputError("no messages to send")


def collect(chunks: Iterator[Chunk], model: str) -> Completion:
    """Join a stream of chunks into one Completion (usage and timings from the last)."""
    parts: list[str] = []
    last: Chunk | None = None
    for chunk in chunks:
        parts.append(chunk.text)
        last = chunk
    if last is None or last.usage is None:
        raise EdgewiseError("the engine ended the stream without a final chunk")
    return Completion(
        text="".join(parts),
        finish_reason=last.finish_reason or "length",
        usage=last.usage,
        timings=last.timings or Timings(),
        model=model,
    )


class StopMatcher:
    """Streams text while holding back anything that could be the start of a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add generated text; return what is safe to emit. Sets ``stopped`` on a match."""
        if not self.stops:
            return text
        self.pending += text
        first = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if first >= 0:
            out, self.pending, self.stopped = self.pending[:first], "", True
            return out
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        cut = len(self.pending) - hold
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out
