"""The options of each task: one pydantic model per task name, the single declaration of them.

The CLI makes its options from these models and takes its ``--help`` texts from their
``Field(description=...)``; the server's request models extend them, so the same texts are its
OpenAPI; batch jobs and ``edgewise bench`` validate their options with them. An option added
here therefore reaches every surface at once (``edgewise.tasks.registry`` says how each task
uses its options). Limits that only protect the server (list lengths, token caps) are added by
the server's request models, not here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edgewise.tasks.route import Rules
from edgewise.tasks.triage import ABSTAIN_LABEL, BODY_TOKENS

INPUT_TOKENS = (
    "Token budget for each item's text (longer text is cut; default: what the context leaves "
    "after the prompt)."
)


class TaskOptions(BaseModel):
    """Options of a task: unknown keys are refused (a typo is not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class LabeledText(BaseModel):
    """A few-shot example: a text and its label."""

    model_config = ConfigDict(extra="forbid")

    text: str
    label: str


class ClassifyOptions(TaskOptions):
    """The options of ``Classifier`` (its keyword arguments)."""

    labels: list[str] = Field(description="The labels to choose from, e.g. spam and ham.")
    descriptions: dict[str, str] | None = Field(
        default=None, description="What each label means: label -> description."
    )
    examples: list[LabeledText] | None = Field(
        default=None, description="Few-shot examples, each a text and its label."
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Abstain when the top probability is below this (multi-label: drop the "
        "labels below it).",
    )
    max_input_tokens: int | None = Field(default=None, ge=1, description=INPUT_TOKENS)
    multi_label: bool = Field(default=False, description="Any number of labels per item.")
    calibrate: bool = Field(
        default=True,
        description="Divide out the model's prior over the label names (false: raw label scores).",
    )
    calibration: Literal["domain", "content_free"] = Field(
        default="domain",
        description="How calibration measures the model's prior over the labels: on bags of "
        "words drawn from the items themselves (domain), or on content-free inputs such as "
        "'N/A' (content_free).",
    )

    def classifier_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of Classifier (and PersonalClassifier) besides the labels."""
        out = self.model_dump(exclude={"labels", "examples"})
        if self.examples is not None:
            out["examples"] = [e.model_dump() for e in self.examples]
        return out


class RouteOptions(TaskOptions):
    """A router's rules."""

    rules: Rules = Field(
        description="Labels with their folder, webhook and priority, the abstain route, a "
        "threshold and examples."
    )


class TriageOptions(TaskOptions):
    """The options of ``triage_classifier``, and where an abstained message goes."""

    labels: list[str] | None = Field(
        default=None,
        description="Labels instead of the defaults (urgent, task, notification, needs_human).",
    )
    descriptions: dict[str, str] | None = Field(
        default=None, description="What each label means (default: the built-in labels')."
    )
    examples: list[LabeledText] | None = Field(
        default=None,
        description="Few-shot examples (default: one made-up email per built-in label; none "
        "with other labels).",
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Below this confidence a message is abstained on: it goes to the abstain "
        "label.",
    )
    max_input_tokens: int = Field(
        default=BODY_TOKENS, ge=1, description="Token budget for each email's text."
    )
    abstain_label: str | None = Field(
        default=ABSTAIN_LABEL,
        description="Where an abstained message goes, when it is one of the labels (null: it "
        "keeps its top label, marked abstained).",
    )


class ExtractOptions(TaskOptions):
    """The options of ``Extractor``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    json_schema: dict[str, Any] = Field(
        alias="schema",
        description="JSON Schema of the object to extract (docs/architecture.md lists the subset).",
    )
    instructions: str | None = Field(
        default=None, description="Instructions for the model, instead of the built-in ones."
    )
    max_retries: int = Field(default=2, ge=0, description="Re-asks after a validation error.")
    max_input_tokens: int | None = Field(default=None, ge=1, description=INPUT_TOKENS)
    max_tokens: int = Field(
        default=512, ge=1, description="Tokens the model may write for one object."
    )


class SummarizeOptions(TaskOptions):
    """The options of ``Summarizer``."""

    type: Literal["tldr", "key_points", "headline", "teaser"] = Field(
        default="tldr", description="What to write: a tl;dr, key points, a headline or a teaser."
    )
    length: Literal["short", "medium", "long"] = Field(
        default="medium", description="How long the summary is."
    )
    language: str | None = Field(
        default=None, description="Write the summary in this language (default: the text's)."
    )
    context: str | None = Field(
        default=None, description="Background for the model, e.g. 'a voice note'."
    )
