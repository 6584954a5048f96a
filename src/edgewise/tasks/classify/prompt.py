"""The prompts a Classifier scores labels after, laid out as token lists.

Single-label: the instructions, the label list with descriptions and the few-shot examples
form one prefix, evaluated once and kept in the engine's KV cache; each item's text follows
it, then the template's tokens after the text (the suffix), then each label as a continuation
closed by the answer's end. Multi-label: the instructions and the text are the prefix, and one
yes/no question per label is scored after it.

The item's place is marked with ``SENTINEL`` in the rendered prompt and the prompt is split
there, so the template is tokenized as markup and the texts as plain text: a text that spells
a control token cannot close its turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edgewise.engines.base import Engine
from edgewise.errors import ContextLengthExceededError
from edgewise.tasks.classify.inputs import Example, clean_text
from edgewise.types import Message

SENTINEL = "\u2063EDGEWISE_ITEM\u2063"
INSTRUCTION = "Classify the text into exactly one of the labels below."
MULTI_INSTRUCTION = "Decide whether the text belongs to a label."
EXAMPLE_TOKENS = 128  # budget for the text of each few-shot example
MULTI_FIXED_TOKENS = 200  # a multi-label prompt's instructions, before the text
MULTI_LABEL_TOKENS = 40  # per label: its line in the instructions and its question


def label_block(
    labels: Sequence[str], spoken: Mapping[str, str], descriptions: Mapping[str, str]
) -> str:
    """The label list of the instructions: each label as spoken, with its description."""
    lines = []
    for lab in labels:
        desc = descriptions.get(lab)
        shown = spoken[lab]
        lines.append(f"- {shown}: {desc}" if desc else f"- {shown}")
    return "Labels:\n" + "\n".join(lines)


def budget_text(engine: Engine, text: str, budget: int) -> str:
    """``text`` cut to ``budget`` tokens."""
    toks = engine.tokenize(text)
    return text if len(toks) <= budget else engine.detokenize(toks[:budget])


def single_messages(
    engine: Engine,
    instruction: str,
    labels: Sequence[str],
    spoken: Mapping[str, str],
    descriptions: Mapping[str, str],
    examples: Sequence[Example],
) -> list[Message]:
    """The single-label prompt with ``SENTINEL`` where the item goes: the instructions with
    the label list, and the examples as chat turns, or as one "Text: ... Label: ..."
    completion prompt for a model without a chat template."""
    block = label_block(labels, spoken, descriptions)
    system = f"{instruction}\n\n{block}\n\nAnswer with the label only."
    if not engine.chat_mode:
        parts = [system, ""]
        for ex in examples:
            parts.append(
                f"Text: {budget_text(engine, clean_text(ex.text), EXAMPLE_TOKENS)}\n"
                f"Label: {spoken[ex.label]}\n"
            )
        parts.append(f"Text: {SENTINEL}\nLabel:")
        return [Message(role="user", content="\n".join(parts))]
    msgs = [Message(role="system", content=system)]
    for ex in examples:
        text = budget_text(engine, clean_text(ex.text), EXAMPLE_TOKENS)
        msgs.append(Message(role="user", content=f"Text:\n{text}"))
        msgs.append(Message(role="assistant", content=spoken[ex.label]))
    msgs.append(Message(role="user", content=f"Text:\n{SENTINEL}"))
    return msgs


def answer_end(engine: Engine) -> list[int]:
    """The token that closes an answer: the chat template's end of turn (its first token
    after the assistant's text), or the newline of the plain "Label: x" format."""
    if not engine.chat_mode:
        return engine.tokenize("\n")
    msgs = [
        Message(role="user", content="x"),
        Message(role="assistant", content=SENTINEL),
    ]
    rendered = engine.render(msgs, add_generation_prompt=False)
    _, _, tail = rendered.partition(SENTINEL)
    return engine.tokenize(tail, special=True)[:1] if tail else []


def split_prompt(engine: Engine, messages: list[Message]) -> tuple[list[int], list[int]]:
    """Prefix tokens before the item's text and the template tokens after it."""
    if engine.chat_mode:
        rendered = engine.render(messages)
    else:
        rendered = messages[0].content
    head, _, tail = rendered.partition(SENTINEL)
    prefix = engine.prompt_tokens(head, rendered=engine.chat_mode)
    suffix = engine.tokenize(tail, special=engine.chat_mode)
    return prefix, suffix


def item_tokens(
    engine: Engine, text: str, room: int, max_input_tokens: int | None
) -> tuple[list[int], int, bool]:
    """An item's tokens cut to the room left (and to ``max_input_tokens``), how many it has
    after the cut, and whether it was cut."""
    toks = engine.tokenize(text)
    budget = min(room, max_input_tokens or room)
    if budget < 1:
        raise ContextLengthExceededError(len(toks), engine.n_ctx)
    cut = len(toks) > budget
    return toks[:budget], min(len(toks), budget), cut


def multi_prompt(
    engine: Engine,
    instruction: str,
    labels: Sequence[str],
    spoken: Mapping[str, str],
    descriptions: Mapping[str, str],
    text: str,
) -> tuple[list[int], list[list[int]]]:
    """Prefix = instruction + the text; one short question per label after it."""
    system = f"{instruction}\n\n{label_block(labels, spoken, descriptions)}"
    questions = []
    for lab in labels:
        desc = descriptions.get(lab)
        about = f" ({desc})" if desc else ""
        questions.append(
            f"Does the text belong to the label '{spoken[lab]}'{about}? Answer yes or no."
        )
    if engine.chat_mode:
        msgs = [
            Message(role="system", content=system),
            Message(role="user", content=f"Text:\n{SENTINEL}"),
        ]
        head, _, tail = engine.render(msgs).partition(SENTINEL)
        prefix = engine.prompt_tokens(head, rendered=True) + engine.tokenize(text)
        items = [
            engine.tokenize("\n\n" + q) + engine.tokenize(tail, special=True) for q in questions
        ]
    else:
        prefix = engine.prompt_tokens(f"{system}\n\nText: ") + engine.tokenize(text)
        items = [engine.tokenize(f"\n{q}\nAnswer:") for q in questions]
    return prefix, items
