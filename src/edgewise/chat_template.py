"""Render chat messages with the Jinja chat template a GGUF file carries.

Models without a template (base models) run in plain completion mode: messages are joined as
"Role: content" lines, which a base model continues as text.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from edgewise.errors import InputError
from edgewise.types import Message


def _raise(message: str) -> None:
    raise InputError(f"chat template refused the messages: {message}")


@lru_cache(maxsize=16)
def _compile(template: str) -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env.from_string(template)


def render(
    template: str | None,
    messages: Sequence[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """Render ``messages`` to a prompt string (template) or plain text (no template)."""
    if not messages:
        raise InputError("no messages to send")
    if template is None:
        return plain(messages, add_generation_prompt=add_generation_prompt)
    return str(
        _compile(template).render(
            messages=[m.model_dump() for m in messages],
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    )


def plain(messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    if add_generation_prompt:
        lines.append("Assistant:")
    return "\n".join(lines)
