"""The Engine protocol every backend implements, and what the backends share.

``EngineBase`` holds the argument handling that would otherwise be written once per engine and
drift apart: options parsing, prompt checks, tokenizing prompts (chat templates, BOS, special
tokens only in markup), the context-length check, schema compilation before any work, the
normalisation of ``score_batch`` arguments, the closed-engine check and the embeddings
capability. An engine implements only what differs: ``_tokenize``, ``detokenize``,
``_start_stream``, ``_score`` and ``_embed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from edgewise import chat_template
from edgewise.config import Settings
from edgewise.errors import (
    CapabilityError,
    ContextLengthExceededError,
    EdgewiseError,
    InputError,
    InvalidOptionsError,
)
from edgewise.structured import CompiledSchema, compile_schema
from edgewise.types import (
    Chunk,
    Completion,
    ContinuationScore,
    GenerationOptions,
    Message,
    Timings,
)

Prompt = str | Sequence[Message] | Sequence[dict[str, str]]
DEFAULT_N_CTX = 4096  # the context when neither the caller nor EDGEWISE_N_CTX sets one


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


def check_sizes(**sizes: object) -> None:
    """Refuse a size option (``n_ctx``, ``threads``, ``n_batch``) that is not a positive integer.

    llama.cpp takes a negative size as "could not create a context", or as it is; checked
    before the model file is read, so the mistake is named instead.
    """
    for option, value in sizes.items():
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value <= 0
        ):
            raise InvalidOptionsError(f"{option} must be a positive integer, got {value!r}")


def context_size(requested: int | None, settings: Settings, n_ctx_train: int) -> int:
    """The context to run with: asked for, else EDGEWISE_N_CTX, else DEFAULT_N_CTX, and never
    more than the model was trained on (when the model says)."""
    want = requested or settings.n_ctx or min(n_ctx_train or DEFAULT_N_CTX, DEFAULT_N_CTX)
    return min(want, n_ctx_train) if n_ctx_train > 0 else want


@dataclass(frozen=True)
class GenerationRequest:
    """A checked generate/stream call: the prompt's tokens fit the context and the schema
    compiled, so an engine's ``_start_stream`` starts work without more checks."""

    prompt: Prompt
    tokens: list[int]
    options: GenerationOptions
    schema: Any  # as given (None: unconstrained)
    compiled: CompiledSchema | None


@dataclass(frozen=True)
class ScoreRequest:
    """A checked score_batch call, every part as token ids."""

    prefix: list[int]
    items: list[list[int]]
    continuations: list[list[int]]
    names: list[str]  # each continuation as text, for ContinuationScore.text


class EngineBase:
    """The shared half of an engine (see the module docstring); subclasses set ``name``,
    ``n_ctx``, the chat template (``_use_chat_template``) and the capabilities."""

    supports_grammar: ClassVar[bool] = False
    supports_embeddings: ClassVar[bool] = False
    supports_scoring: ClassVar[bool] = False
    supports_logprobs: ClassVar[bool] = False  # stream(..., logprobs=N)
    kind: ClassVar[str] = "this"  # how errors name the engine: "the ONNX engine"

    name: str
    n_ctx: int
    chat_mode: bool = False  # True when the model has a chat template; False = plain completion
    template: str | None = None
    add_bos: bool = False
    _bos_text: str = ""
    _eos_text: str = ""
    _closed: bool = False

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        # a native engine aborts the process (or reads freed memory) on freed handles
        if self._closed:
            raise CapabilityError(
                f"{self.name} is closed: load the model again (edgewise.load) to use it"
            )

    def _check_can_generate(self) -> None:
        """Raise unless the engine can evaluate text now (open, and not embeddings-only)."""
        self._check_open()

    # ------------------------------------------------------------------ tokens & text
    def _tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        """The engine's tokenizer: special-token text parsed only with ``special``."""
        raise NotImplementedError

    def detokenize(self, tokens: Sequence[int]) -> str:
        raise NotImplementedError

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Tokens of ``text`` as a continuation (no BOS; special tokens parsed only if asked)."""
        return self._tokenize(text, add_bos=False, special=special)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def _use_chat_template(
        self, template: str | None, *, instruct: bool, chat: bool | None
    ) -> None:
        """Chat mode when the model has a template and is an instruct model (``chat`` forces
        it on or off; on needs a template). Otherwise prompts are plain completion."""
        self.chat_mode = bool(template) and instruct if chat is None else bool(chat and template)
        self.template = template if self.chat_mode else None

    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        return chat_template.render(
            self.template,
            as_messages(messages),
            bos_token=self._bos_text,
            eos_token=self._eos_text,
            add_generation_prompt=add_generation_prompt,
        )

    def prompt_tokens(self, prompt: Prompt, *, rendered: bool = False) -> list[int]:
        """Tokens the model sees for ``prompt`` (a raw string, or messages rendered).

        ``rendered=True`` (or a ``RenderedPrompt``) marks a string that is already chat-template
        output (or a piece of it that starts the prompt): its special tokens are parsed and BOS
        is not doubled. In messages, only the template's text is read for special tokens
        (``message_tokens``).
        """
        rendered = rendered or isinstance(prompt, RenderedPrompt)
        if isinstance(prompt, str) and not rendered:
            return self._tokenize(prompt, add_bos=self.add_bos, special=False)
        if isinstance(prompt, str):
            return self._rendered_tokens(prompt)
        return message_tokens(self, as_messages(prompt), self._rendered_tokens)  # type: ignore[arg-type]

    def _rendered_tokens(self, text: str) -> list[int]:
        add_bos = self.add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self._tokenize(text, add_bos=add_bos, special=True)

    def _check_context(self, n_tokens: int) -> None:
        if n_tokens >= self.n_ctx:
            raise ContextLengthExceededError(n_tokens, self.n_ctx)

    # ------------------------------------------------------------------ generation
    def stream(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Iterator[Chunk]:
        """Yield text chunks as they are generated; the last chunk carries usage/timings."""
        return self._start_stream(self._generation_request(prompt, options, schema))

    def generate(
        self,
        prompt: Prompt,
        options: GenerationOptions | dict[str, Any] | None = None,
        *,
        schema: Any = None,
    ) -> Completion:
        return collect(self.stream(prompt, options, schema=schema), self.name)

    def _generation_request(
        self, prompt: Prompt, options: GenerationOptions | dict[str, Any] | None, schema: Any
    ) -> GenerationRequest:
        """Every check a generate/stream call passes before the engine does any work."""
        opts = GenerationOptions.parse(options)
        check_prompt(prompt)
        self._check_can_generate()
        tokens = self.prompt_tokens(prompt)
        self._check_context(len(tokens))
        compiled = compile_schema(schema) if schema is not None else None  # fails before work
        return GenerationRequest(prompt, tokens, opts, schema, compiled)

    def _start_stream(self, request: GenerationRequest) -> Iterator[Chunk]:
        raise NotImplementedError

    # ------------------------------------------------------------------ scoring
    def score(self, prompt: Prompt, continuations: Sequence[str]) -> list[ContinuationScore]:
        """Log-probabilities of each continuation right after ``prompt`` (evaluated once)."""
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
        """Score ``continuations`` after ``prefix + item`` for every item.

        ``prefix``, each item and each continuation may be given as token ids (from
        ``prompt_tokens`` and ``tokenize``), which lets a caller keep user text from being
        parsed as special tokens. ``persist`` marks a prefix later processes will use again
        (a classifier's prompt), for engines that keep prefixes on disk.
        """
        self._check_can_generate()
        return self._score(self._score_request(prefix, items, continuations), persist=persist)

    def _score_request(
        self,
        prefix: Prompt | Sequence[int],
        items: Sequence[str | Sequence[int]],
        continuations: Sequence[str | Sequence[int]],
    ) -> ScoreRequest:
        if not continuations:
            raise EdgewiseError("no continuations to score")
        conts = [
            self.tokenize(c) if isinstance(c, str) else [int(t) for t in c] for c in continuations
        ]
        for text, toks in zip(continuations, conts):
            if not toks:
                raise EdgewiseError(f"continuation {text!r} has no tokens")
        names = [c if isinstance(c, str) else self.detokenize(c) for c in continuations]
        if isinstance(prefix, str):
            prefix_tokens = self.prompt_tokens(prefix) if prefix else []
        elif prefix and isinstance(prefix[0], int):
            prefix_tokens = [int(t) for t in prefix]  # type: ignore[arg-type]
        else:
            prefix_tokens = self.prompt_tokens(prefix) if prefix else []  # type: ignore[arg-type]
        item_tokens = [
            (self.tokenize(t, special=True) if t else [])
            if isinstance(t, str)
            else [int(x) for x in t]
            for t in items
        ]
        # An item needs at least one token of its own; an empty item borrows the prefix's last.
        if any(not it for it in item_tokens) and not prefix_tokens:
            raise EdgewiseError("nothing to score after: prompt and item are both empty")
        return ScoreRequest(prefix_tokens, item_tokens, conts, names)

    def _score(self, request: ScoreRequest, *, persist: bool) -> list[list[ContinuationScore]]:
        raise NotImplementedError

    # ------------------------------------------------------------------ embeddings
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """L2-normalized pooled embeddings, one per text (CapabilityError where unsupported)."""
        if not self.supports_embeddings:
            raise CapabilityError(
                f"{self.name}: the {self.kind} engine has no embeddings; "
                "use a GGUF model for embed()"
            )
        return self._embed(check_texts(texts))

    def _embed(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError
