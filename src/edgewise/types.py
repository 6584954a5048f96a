"""Value types shared by engines, tasks, the CLI and the server."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgewise.errors import InvalidOptionsError

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class GenerationOptions(BaseModel):
    """Sampling options for generate/stream. Unknown options are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(256, ge=1, le=131072, description="Most tokens to generate.")
    temperature: float = Field(
        0.7, ge=0.0, le=5.0, description="Sampling temperature; 0 means greedy (deterministic)."
    )
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling probability mass.")
    top_k: int = Field(40, ge=0, description="Sample among the k most likely tokens; 0 = all.")
    seed: int | None = Field(
        None, ge=0, lt=2**32, description="Random seed; fixed seed + options = same output."
    )
    stop: list[str] = Field(
        default_factory=list, description="Stop when any of these strings is produced."
    )
    repeat_penalty: float = Field(
        1.0, ge=0.0, le=3.0, description="Penalty for repeating recent tokens; 1.0 = off."
    )
    ignore_eos: bool = Field(
        False, description="Never end at the end-of-text token: always max_tokens (benchmarks)."
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("stop")
    @classmethod
    def _stop_nonempty(cls, value: list[str]) -> list[str]:
        if any(s == "" for s in value):
            raise ValueError("stop strings must not be empty")
        return value

    @classmethod
    def parse(
        cls, options: GenerationOptions | dict[str, Any] | None = None, **kw: Any
    ) -> GenerationOptions:
        """Build options from a model, a dict and/or keywords, raising InvalidOptionsError."""
        data: dict[str, Any] = {}
        if isinstance(options, GenerationOptions):
            data.update(options.model_dump(exclude_unset=True))
        elif options is not None:
            data.update(options)
        data.update({k: v for k, v in kw.items() if v is not None})
        try:
            return cls(**data)
        except ValidationError as exc:
            parts = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "options"
                msg = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
                parts.append(f"{loc}: {msg}")
            raise InvalidOptionsError(
                "invalid generation options: " + "; ".join(parts),
                errors=[dict(e) for e in exc.errors()],
            ) from None


class Usage(BaseModel):
    """Token counts of one call. ``cached_tokens`` were reused from an earlier evaluation."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Timings(BaseModel):
    """Wall-clock timings of one call, in milliseconds."""

    prompt_ms: float = 0.0
    decode_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.prompt_ms + self.decode_ms


FinishReason = Literal["stop", "length"]


class Completion(BaseModel):
    """The result of a generate call."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    timings: Timings
    model: str = ""

    def tokens_per_second(self) -> float:
        if self.timings.decode_ms <= 0:
            return 0.0
        return self.usage.completion_tokens / (self.timings.decode_ms / 1000.0)


class TopLogprob(BaseModel):
    """One candidate token at a generation step and its log-probability."""

    token: str
    logprob: float
    bytes: list[int] = Field(default_factory=list, description="UTF-8 bytes of the token.")


class TokenLogprob(TopLogprob):
    """A generated token, its log-probability and the most likely alternatives at its step.

    Log-probabilities are under the model's own distribution (before temperature, top-k/top-p
    and grammar), as OpenAI's API reports them.
    """

    top: list[TopLogprob] = Field(default_factory=list)


class Chunk(BaseModel):
    """One streamed piece. The last chunk has ``finish_reason`` set and carries usage."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    logprobs: list[TokenLogprob] | None = Field(
        default=None, description="Per generated token, when the caller asked for logprobs."
    )


class ContinuationScore(BaseModel):
    """Log-probability of one candidate continuation after a prompt."""

    text: str
    logprob: float = Field(description="Sum of the continuation tokens' log-probabilities.")
    token_logprobs: list[float]

    @property
    def n_tokens(self) -> int:
        return len(self.token_logprobs)

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, len(self.token_logprobs))
