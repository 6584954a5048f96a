"""Task options on the command line, made from each task's options model.

Every field of a task's options model (``edgewise.tasks.options``) becomes a click option of
``edgewise TASK`` and ``edgewise batch TASK``, with the field's description as its help, its
type and bounds as the click type, its default as the default. So a field added to the model
is on the command line at once, as it is in the server's requests. What a model cannot say is
given here, per field (``Opt``): a short name, a file the value is read from (descriptions,
examples, a schema, rules), a flag that turns a default off, or an option that sets several
fields (triage's ``--rules``). A field of a type with no command-line form and no ``Opt`` is an
error when the CLI is imported, not an option silently missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args, get_origin

import click
from pydantic.fields import FieldInfo

from edgewise.cli.common import read_file_text
from edgewise.errors import InputError, check_unicode
from edgewise.tasks.registry import Task, get_task


@dataclass(frozen=True)
class Opt:
    """How one field (or an option that is no field) appears on the command line."""

    flags: tuple[str, ...] = ()  # the option's names; default --field-name
    param: str | None = None  # click's name for the value; default the field's name
    metavar: str | None = None
    help: str | None = None  # default: the field's description
    read: Callable[[Any, dict[str, Any]], Any] | None = None  # CLI value -> the field's value
    flag: bool = False  # a flag; its presence (True/False) goes to ``read``
    skip: bool = False  # not on the command line (another option sets it)
    apply: Callable[[Any, dict[str, Any]], None] | None = None  # no field: sets fields itself


SKIP = Opt(skip=True)


def apply_options(options: list[Any]) -> Any:
    """A decorator applying click options in order (shared by a command and its batch form)."""

    def deco(f: Any) -> Any:
        for opt in reversed(options):
            f = opt(f)
        return f

    return deco


# ------------------------------------------------------------------------------- files
def read_descriptions(path: str | None) -> dict[str, str] | None:
    """``--descriptions FILE.json``: a JSON object mapping each label to its description."""
    if path is None:
        return None
    try:
        data = json.loads(read_file_text(path))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise InputError(f"{path}: expected a JSON object mapping each label to a description")
    check_unicode(json.dumps(data, ensure_ascii=False), str(path), position=False)
    return data


def read_examples(path: str | None, labels: list[str] | None = None) -> list[dict[str, Any]] | None:
    """``--examples FILE.jsonl``: one {text, label} object per line, each label one of
    ``labels`` (when given); errors name the line."""
    if path is None:
        return None
    out = []
    for n, line in enumerate(read_file_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{where}: invalid JSON ({exc})") from None
        if not isinstance(obj, dict) or not {"text", "label"} <= obj.keys():
            raise InputError(f"{where}: an example needs 'text' and 'label'")
        if not isinstance(obj["text"], str) or not isinstance(obj["label"], str):
            raise InputError(f"{where}: an example's 'text' and 'label' must be strings")
        if labels is not None and obj["label"] not in labels:
            raise InputError(f"{where}: label {obj['label']!r} is not one of --labels {labels}")
        check_unicode(obj["text"], where)
        out.append({"text": obj["text"], "label": obj["label"]})  # other fields are notes
    return out


def read_schema(path: str) -> dict[str, Any]:
    """``--schema FILE.json``; an unsupported schema fails here, before a model loads."""
    from edgewise.structured import compile_schema

    try:
        schema = json.loads(read_file_text(path))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    check_unicode(json.dumps(schema, ensure_ascii=False), path, position=False)
    compile_schema(schema)
    return schema  # type: ignore[no-any-return]


def _rules(path: str) -> Any:
    from edgewise.tasks.route import load_rules

    return load_rules(path)


def _triage_rules(path: str, values: dict[str, Any]) -> None:
    """Triage's ``--rules``: the rules' labels, descriptions, examples and threshold (unless
    --threshold is given); abstained messages keep their label (the rules' abstain route)."""
    if values.get("labels"):  # a usage error: exit status 2
        raise click.UsageError("give --labels or --rules, not both")
    rules = _rules(path)
    values.update(
        labels=list(rules.labels),
        descriptions={k: v.description for k, v in rules.labels.items() if v.description},
        examples=[e.model_dump() for e in rules.examples],
        abstain_label=None,
    )
    if values.get("threshold") is None:
        values["threshold"] = rules.threshold


# ------------------------------------------------------------------------------- per task
CLI: dict[str, dict[str, Opt]] = {
    "classify": {
        "labels": Opt(("--labels", "-l"), help="Comma-separated labels, e.g. spam,ham."),
        "descriptions": Opt(
            metavar="FILE.json",
            help="JSON object: label -> description.",
            read=lambda v, _: read_descriptions(v),
        ),
        "examples": Opt(
            metavar="FILE.jsonl",
            help="Few-shot examples, one {text, label} object per line.",
            read=lambda v, values: read_examples(v, values.get("labels")),
        ),
        "threshold": Opt(),
        "max_input_tokens": Opt(),
        "multi_label": Opt(),
        "calibrate": Opt(
            ("--no-calibration",),
            param="no_calibration",
            flag=True,
            help="Use raw label scores.",
            read=lambda given, _: not given,
        ),
    },
    "route": {
        "rules": Opt(
            ("--rules", "-r"),
            metavar="FILE",
            help="TOML, YAML or JSON rules: labels with folder/webhook/priority, and abstain.",
            read=lambda v, _: _rules(v),
        ),
    },
    "triage": {
        "labels": Opt(("--labels", "-l"), help="Comma-separated labels instead of the defaults."),
        "rules": Opt(
            ("--rules", "-r"),
            metavar="FILE",
            help="TOML, YAML or JSON rules file: its labels, descriptions, examples and threshold.",
            apply=_triage_rules,
        ),
        "threshold": Opt(
            help="Below this confidence a message is abstained on: it goes to needs_human "
            "(with --labels or --rules: to the rules' abstain route, shown as 'abstain')."
        ),
        "max_input_tokens": Opt(),
        "descriptions": SKIP,  # from --rules
        "examples": SKIP,
        "abstain_label": SKIP,
    },
    "extract": {
        "json_schema": Opt(
            ("--schema", "-s"), metavar="FILE.json", read=lambda v, _: read_schema(v)
        ),
        "instructions": Opt(),
        "max_retries": Opt(),
        "max_input_tokens": Opt(),
    },
    "summarize": {
        "type": Opt(("--type", "-t")),
        "length": Opt(("--length", "-l")),
        "language": Opt(),
        "context": Opt(),
    },
}


@dataclass(frozen=True)
class _Param:
    field: str  # the options field (or, with ``apply``, the option's own name)
    param: str
    read: Callable[[Any, dict[str, Any]], Any] | None
    apply: Callable[[Any, dict[str, Any]], None] | None
    option: Any  # the click.option decorator


def _commas(value: str, _values: dict[str, Any]) -> list[str]:
    return [p.strip() for p in value.split(",")]


def _auto(name: str, info: FieldInfo, task: str) -> tuple[dict[str, Any], Any]:
    """Click attributes from a field's type, bounds and default; and how the value is read."""
    ann = info.annotation
    args = get_args(ann)
    if type(None) in args:  # X | None
        ann = next(a for a in args if a is not type(None))
    default = None if info.is_required() else info.default
    bounds = {
        key: getattr(m, key)
        for m in info.metadata
        for key in ("ge", "le")
        if getattr(m, key, None) is not None
    }
    attrs: dict[str, Any] = {"default": default, "required": info.is_required()}
    read = None
    if ann is bool:
        if default:
            raise TypeError(f"{task}.{name}: a flag that is on by default needs an Opt (--no-)")
        return {"is_flag": True, "default": False}, None
    if get_origin(ann) is Literal:
        attrs["type"] = click.Choice([str(a) for a in get_args(ann)])
    elif ann is int:
        attrs["type"] = click.IntRange(bounds.get("ge"), bounds.get("le")) if bounds else int
    elif ann is float:
        attrs["type"] = click.FloatRange(bounds.get("ge"), bounds.get("le")) if bounds else float
    elif ann is str:
        attrs["type"] = str
    elif ann == list[str]:
        attrs["type"], read = str, _commas
    else:
        raise TypeError(f"{task}.{name}: {ann} has no command-line form; describe it with an Opt")
    attrs["show_default"] = default is not None
    return attrs, read


@cache
def _params(task: str) -> tuple[_Param, ...]:
    """The command-line options of ``task``: those the table names, in its order, then every
    other field of the options model, in the model's order."""
    fields = get_task(task).Options.model_fields
    table = CLI.get(task, {})
    out = []
    for name in [*table, *(n for n in fields if n not in table)]:
        opt = table.get(name, Opt())
        if opt.skip:
            continue
        info = fields.get(name)
        param = opt.param or name
        flags = opt.flags or (f"--{name.replace('_', '-')}",)
        attrs: dict[str, Any] = {"metavar": opt.metavar}
        read = opt.read
        if opt.flag:
            attrs.update(is_flag=True, default=False)
        elif info is None or opt.read is not None:  # a file name, or an option of its own
            attrs.update(default=None, required=info is not None and info.is_required())
        else:
            auto, read = _auto(name, info, task)
            attrs.update(auto)
        described = info.description if info is not None else None
        if read is _commas and opt.help is None and described:
            described = f"{described} (comma-separated)"
        attrs["help"] = opt.help or described
        option = click.option(*flags, param, **attrs)
        out.append(_Param(name, param, read, opt.apply, option))
    return tuple(out)


def task_options(task: str) -> Callable[[Any], Any]:
    """A decorator adding the options of ``task`` to a click command."""
    return apply_options([p.option for p in _params(task)])


def task_from_cli(task: str, kw: dict[str, Any]) -> Task[Any, Any]:
    """The task with the options a command was given (popped from ``kw``): files read and
    checked here, so a bad one fails before a model loads."""
    values: dict[str, Any] = {}
    composite = []
    for p in _params(task):
        value = kw.pop(p.param)
        if p.apply is not None:
            composite.append((p, value))
        elif value is not None:
            values[p.field] = p.read(value, values) if p.read is not None else value
    for p, value in composite:
        if value is not None:
            assert p.apply is not None
            p.apply(value, values)
    return get_task(task)(values)
