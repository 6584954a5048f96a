"""Route texts to actions: a rules file maps labels to a folder, a webhook name and a priority.

Rules are TOML or YAML::

    threshold = 0.5                # below this the text takes the abstain route
    max_input_tokens = 256

    [labels.urgent]
    description = "needs attention today"
    folder = "Urgent"
    priority = "high"
    webhook = "pager"

    [labels.notification]
    description = "automated, can be ignored"
    folder = "Later"

    [abstain]                      # where unsure texts go (a person looks at them)
    folder = "Review"
    priority = "normal"

    [[examples]]                   # optional few-shot examples
    text = "Server down, customers cannot log in"
    label = "urgent"
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from edgewise.engines.base import Engine
from edgewise.errors import InputError, check_unicode, parse_problem
from edgewise.tasks.classify import Classification, Classifier, Example, Progress

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class Action(BaseModel):
    """What to do with a text that got a label."""

    model_config = {"extra": "forbid"}

    folder: str | None = None
    webhook: str | None = Field(default=None, description="Name of a webhook the app calls.")
    priority: str | None = None


class LabelRule(Action):
    description: str | None = None


class Rules(BaseModel):
    model_config = {"extra": "forbid"}

    labels: dict[str, LabelRule]
    abstain: Action = Field(default_factory=lambda: Action(folder="Review"))
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    max_input_tokens: int | None = Field(default=None, ge=1)
    examples: list[Example] = Field(default_factory=list)


class Decision(BaseModel):
    """A classification plus the action its label (or abstention) maps to."""

    route: str = Field(description="The label, or 'abstain'.")
    action: Action
    classification: Classification


def load_rules(path: str | Path) -> Rules:
    """Read and validate a TOML or YAML rules file (one-line errors)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read rules ({exc.strerror})") from None
    suffix = path.suffix.lower()
    kind = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}.get(suffix, "TOML")
    try:
        if kind == "YAML":
            import yaml

            data: Any = yaml.safe_load(raw.decode("utf-8-sig"))
        elif kind == "JSON":
            data = json.loads(raw)
        else:
            data = tomllib.loads(raw.decode("utf-8-sig"))
    except Exception as exc:
        first = parse_problem(exc)
        hint = "" if suffix == ".toml" or kind != "TOML" else " (rules are .toml, .yaml or .json)"
        raise InputError(f"{path}: not valid {kind}{hint}: {first}") from None
    return parse_rules(data, str(path))


def parse_rules(data: Any, where: str = "rules") -> Rules:
    """Validate rules given as a mapping (one-line InputError naming the key)."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: the rules must be a table/mapping at the top level")
    try:
        rules = Rules.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{where}: {key}: {err['msg']}") from None
    text = json.dumps(rules.model_dump(mode="json"), ensure_ascii=False)
    check_unicode(text, where, position=False)
    if len(rules.labels) < 2:
        raise InputError(f"{where}: labels: give at least two labels (found {len(rules.labels)})")
    return rules


class Router:
    """Classify with the rules' labels and map each result to its action."""

    def __init__(
        self, rules: Rules | Mapping[str, Any] | str | Path, engine: Engine | None = None
    ) -> None:
        """``rules``: a Rules object, the same as a mapping, or a TOML/YAML/JSON file."""
        from edgewise.tasks import default_engine

        if isinstance(rules, Rules):
            self.rules = rules
        elif isinstance(rules, Mapping):
            self.rules = parse_rules(rules)
        elif isinstance(rules, (str, Path)):
            self.rules = load_rules(rules)
        else:
            raise InputError("rules must be a Rules object, a mapping or a file path")
        if len(self.rules.labels) < 2:
            raise InputError("a router needs at least two labels")
        self.classifier = Classifier(
            engine or default_engine(),
            list(self.rules.labels),
            descriptions={k: v.description for k, v in self.rules.labels.items() if v.description},
            examples=self.rules.examples,
            threshold=self.rules.threshold,
            max_input_tokens=self.rules.max_input_tokens,
        )

    def decide(self, result: Classification) -> Decision:
        if result.abstained or result.label is None:
            return Decision(route="abstain", action=self.rules.abstain, classification=result)
        rule = self.rules.labels[result.label]
        action = Action(folder=rule.folder, webhook=rule.webhook, priority=rule.priority)
        return Decision(route=result.label, action=action, classification=result)

    def route(self, text: str) -> Decision:
        return self.decide(self.classifier.classify(text))

    def route_many(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> list[Decision]:
        return [self.decide(r) for r in self.classifier.classify_many(texts, progress=progress)]
