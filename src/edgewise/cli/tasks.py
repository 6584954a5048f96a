"""``edgewise classify``, ``route`` and ``triage``: shells over edgewise.tasks."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edgewise.cli.common import model_option, read_file_text
from edgewise.cli.io import JsonlSink, ProgressLine, read_items
from edgewise.errors import EdgewiseError, InputError, PartialFailure, check_unicode

if TYPE_CHECKING:
    from pydantic import BaseModel


def _engine(model: str | None) -> Any:
    from edgewise.resolver import load

    return load(model)


def _descriptions(path: str | None) -> dict[str, str] | None:
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


def _examples(path: str | None, labels: list[str] | None = None) -> list[dict[str, Any]] | None:
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
        out.append(obj)
    return out


def _finish(failed: int, total: int, what: str) -> None:
    if failed:
        raise PartialFailure(failed, total, what)


input_options = [
    click.option(
        "--input",
        "-i",
        "input_path",
        default=None,
        metavar="FILE",
        help="A .jsonl file of records (see --field) or a text file (one item).",
    ),
    click.option(
        "--field", default="text", show_default=True, help="The JSONL field holding the text."
    ),
    click.option(
        "--jsonl",
        "jsonl_out",
        default=None,
        metavar="OUT",
        help="Write results as JSONL to OUT (written atomically); default stdout.",
    ),
]


def with_input_options(f: Any) -> Any:
    for opt in reversed(input_options):
        f = opt(f)
    return f


def apply_options(options: list[Any]) -> Any:
    """A decorator applying click options in order (shared by a command and its batch form)."""

    def deco(f: Any) -> Any:
        for opt in reversed(options):
            f = opt(f)
        return f

    return deco


classify_options = [
    click.option("--labels", "-l", required=True, help="Comma-separated labels, e.g. spam,ham."),
    click.option(
        "--descriptions",
        "descriptions_file",
        default=None,
        metavar="FILE.json",
        help="JSON object: label -> description.",
    ),
    click.option(
        "--examples",
        "examples_file",
        default=None,
        metavar="FILE.jsonl",
        help="Few-shot examples, one {text, label} object per line.",
    ),
    click.option(
        "--threshold",
        type=click.FloatRange(0, 1),
        default=None,
        help="Abstain when the top probability is below this.",
    ),
    click.option(
        "--max-input-tokens",
        type=click.IntRange(min=1),
        default=None,
        help="Token budget for each item's text (longer text is cut; default: what the "
        "context leaves after the prompt).",
    ),
    click.option("--multi-label", is_flag=True, help="Any number of labels per item."),
    click.option("--no-calibration", is_flag=True, help="Use raw label scores."),
]


def classify_kwargs(
    labels: str,
    descriptions_file: str | None,
    examples_file: str | None,
    threshold: float | None,
    max_input_tokens: int | None,
    multi_label: bool,
    no_calibration: bool,
) -> dict[str, Any]:
    """Classifier keyword arguments from the classify options (files read and checked)."""
    label_list = [p.strip() for p in labels.split(",")]
    return {
        "labels": label_list,
        "descriptions": _descriptions(descriptions_file),
        "examples": _examples(examples_file, label_list),
        "multi_label": multi_label,
        "threshold": threshold,
        "max_input_tokens": max_input_tokens,
        "calibrate": not no_calibration,
    }


@click.command()
@model_option
@apply_options(classify_options)
@click.option(
    "--profile",
    "profile_name",
    default=None,
    help="Learn from this profile's corrections (see `edgewise feedback`).",
)
@with_input_options
@click.argument("text", required=False)
def classify(
    model: str | None,
    labels: str,
    descriptions_file: str | None,
    examples_file: str | None,
    threshold: float | None,
    max_input_tokens: int | None,
    multi_label: bool,
    no_calibration: bool,
    profile_name: str | None,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    text: str | None,
) -> None:
    """Classify TEXT ('-' for stdin) or every record of --input into one of --labels."""
    from edgewise.tasks.classify import Classification, Classifier

    items = read_items(text, input_path, field)
    kwargs = classify_kwargs(
        labels,
        descriptions_file,
        examples_file,
        threshold,
        max_input_tokens,
        multi_label,
        no_calibration,
    )
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        label_list = kwargs.pop("labels")
        classifier: Any
        if profile_name is not None:
            from edgewise.personal.learn import PersonalClassifier
            from edgewise.personal.profile import Profile

            if examples_file:
                raise InputError(
                    "--examples and --profile exclude each other: the profile's corrections are the examples"
                )
            kwargs.pop("examples", None)
            profile = Profile.open(profile_name)  # before loading the model: a typo fails fast
            classifier = PersonalClassifier(_engine(model), label_list, profile, **kwargs)
        else:
            classifier = Classifier(_engine(model), label_list, **kwargs)
        good = [it for it in items if it.error is None]
        progress = ProgressLine("classify")
        results = iter(classifier.classify_many([it.text for it in good], progress=progress))
        progress.close()
        single = input_path is None and jsonl_out is None
        failed = 0
        for it in items:
            if it.error is not None:  # the same keys as a result, so every line has them
                row: dict[str, Any] = {"id": it.id, **_failed(Classification, it.error)}
            else:
                row = {"id": it.id, **next(results).model_dump()}
            failed += row.get("error") is not None
            if single:
                if row.get("error"):
                    raise InputError(row["error"])
                shown = ",".join(row["labels"]) or "(abstained)"
                click.echo(f"{shown}\t{row['confidence']:.3f}")
            else:
                sink.write(row)
    _finish(failed, len(items), "items")


@click.command()
@model_option
@click.option(
    "--rules",
    "-r",
    "rules_path",
    required=True,
    metavar="FILE",
    help="TOML, YAML or JSON rules: labels with folder/webhook/priority, and abstain.",
)
@with_input_options
@click.argument("text", required=False)
def route(
    model: str | None,
    rules_path: str,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    text: str | None,
) -> None:
    """Route TEXT ('-' for stdin) or every record of --input to its label's action."""
    from edgewise.tasks.route import Router, load_rules

    rules = load_rules(rules_path)  # validate before loading a model
    items = read_items(text, input_path, field)
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        router = Router(rules, _engine(model))
        good = [it for it in items if it.error is None]
        progress = ProgressLine("route")
        decisions = iter(router.route_many([it.text for it in good], progress=progress))
        progress.close()
        failed = 0
        for it in items:
            if it.error is not None:
                failed += 1
                sink.write({"id": it.id, **dict.fromkeys(ROUTE_KEYS), "error": it.error})
                continue
            d = next(decisions)
            c = d.classification
            failed += c.error is not None
            if c.error is not None and input_path is None and jsonl_out is None:  # as classify
                raise InputError(c.error)
            row: list[Any] = [
                d.route if c.error is None else None,
                d.action.model_dump(exclude_none=True) if c.error is None else None,
                *(c.label, c.confidence, c.abstained, c.ms, c.error),
            ]  # in the order of ROUTE_KEYS, which the failed records have too
            sink.write({"id": it.id, **dict(zip(ROUTE_KEYS, row, strict=True))})
    _finish(failed, len(items), "items")


ROUTE_KEYS = ("route", "action", "label", "confidence", "abstained", "ms", "error")


def _failed(model: type[BaseModel], error: str) -> dict[str, Any]:
    """A result row for an item that could not be processed: every field of ``model`` (None,
    or the empty default), and the error."""
    row = {name: None for name in model.model_fields}
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            row[name] = field.default_factory()  # type: ignore[call-arg]
    return {**row, "error": error}


def _cells(ch: str) -> int:
    """Terminal columns of a character: 2 for wide East Asian ones, 0 for combining marks."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _fit(value: str, width: int) -> str:
    """``value`` on one line, cut with an ellipsis and padded to ``width`` terminal columns
    (CJK characters take two, so the table's columns stay aligned)."""
    value = " ".join(value.split())
    if sum(map(_cells, value)) > width:
        out, used = [], 0
        for ch in value:
            if used + _cells(ch) > width - 1:
                break
            out.append(ch)
            used += _cells(ch)
        value = "".join(out) + "\u2026"
    return value + " " * (width - sum(map(_cells, value)))


triage_options = [
    click.option(
        "--labels", "-l", default=None, help="Comma-separated labels instead of the defaults."
    ),
    click.option(
        "--rules",
        "-r",
        "rules_path",
        default=None,
        metavar="FILE",
        help="TOML, YAML or JSON rules file: its labels, descriptions, examples and threshold.",
    ),
    click.option(
        "--threshold",
        type=click.FloatRange(0, 1),
        default=None,
        help="Below this confidence a message is abstained on: it goes to needs_human "
        "(with --labels or --rules: to the rules' abstain route, shown as 'abstain').",
    ),
    click.option(
        "--max-input-tokens",
        type=click.IntRange(min=1),
        default=256,
        show_default=True,
        help="Token budget for each email's text.",
    ),
]


def triage_kwargs(
    labels: str | None, rules_path: str | None, threshold: float | None, max_input_tokens: int
) -> tuple[dict[str, Any], str | None]:
    """triage_classifier keyword arguments and the abstain label, from the triage options."""
    from edgewise.tasks.triage import ABSTAIN_LABEL

    if labels and rules_path:  # a usage error: exit status 2
        raise click.UsageError("give --labels or --rules, not both")
    kwargs: dict[str, Any] = {"threshold": threshold, "max_input_tokens": max_input_tokens}
    abstain: str | None = ABSTAIN_LABEL
    if rules_path:
        from edgewise.tasks.route import load_rules

        rules = load_rules(rules_path)
        kwargs.update(
            labels=list(rules.labels),
            descriptions={k: v.description for k, v in rules.labels.items() if v.description},
            examples=[e.model_dump() if hasattr(e, "model_dump") else e for e in rules.examples],
        )
        if threshold is None:
            kwargs["threshold"] = rules.threshold
        abstain = None
    elif labels:
        kwargs["labels"] = [p.strip() for p in labels.split(",")]
    return kwargs, abstain


@click.command()
@model_option
@apply_options(triage_options)
@click.option(
    "--jsonl",
    "jsonl_out",
    default=None,
    metavar="OUT",
    help="Also write every result as JSONL to OUT (atomically).",
)
@click.argument("inbox", type=click.Path(path_type=Path))
def triage(
    model: str | None,
    labels: str | None,
    rules_path: str | None,
    threshold: float | None,
    max_input_tokens: int,
    jsonl_out: str | None,
    inbox: Path,
) -> None:
    """Label every email of INBOX (mbox, directory of .eml, or JSONL) and print a table."""
    from edgewise.tasks.mail import count_inbox, read_inbox
    from edgewise.tasks.triage import triage_classifier, triage_emails

    kwargs, abstain = triage_kwargs(labels, rules_path, threshold, max_input_tokens)
    emails = read_inbox(inbox)
    first = next(emails, None)  # a missing or empty inbox fails before the model loads
    if first is None:
        raise InputError(f"{inbox}: no messages")

    def all_emails() -> Any:
        yield first
        yield from emails

    failed = total = 0
    counts: dict[str, int] = {}
    progress = ProgressLine("triage")
    expected = count_inbox(inbox)
    with JsonlSink(jsonl_out) if jsonl_out else _NullSink() as sink:  # fails before the model
        classifier = triage_classifier(_engine(model), **kwargs)
        header = f"{'id':<28} {'from':<26} {'subject':<34} {'label':<13} {'conf':>5} {'ms':>7}"
        click.echo(header)
        click.echo("-" * len(header))
        mails = triage_emails(
            all_emails(), classifier, abstain_label=abstain, progress=progress, total=expected
        )
        for r in mails:
            progress.clear()  # the table's rows and the progress line share the terminal
            total += 1
            label = r.label if r.error is None else "ERROR"
            if r.error is None and r.abstained and r.label != abstain:
                label = "abstain"  # the rules' abstain route, as `edgewise route` names it
            counts[label or "?"] = counts.get(label or "?", 0) + 1
            if r.error is not None:
                failed += 1
                click.echo(f"{_fit(r.id, 28)} {_fit(r.sender, 26)} {_fit(r.error, 34)} ERROR")
            else:
                click.echo(
                    f"{_fit(r.id, 28)} {_fit(r.sender, 26)} {_fit(r.subject, 34)} "
                    f"{label:<13} {r.confidence:>5.2f} {r.ms:>7.1f}"
                )
            sink.write(r.model_dump(by_alias=True))
    progress.clear()  # the table and the summary say it is done
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    click.echo(f"\n{total} message{'' if total == 1 else 's'} ({summary})", err=True)
    _finish(failed, total, "messages")


class _NullSink:
    def write(self, obj: dict[str, Any]) -> None:
        pass

    def __enter__(self) -> _NullSink:
        return self

    def __exit__(self, *_: Any) -> None:
        pass


extract_options = [
    click.option(
        "--schema",
        "-s",
        "schema_file",
        required=True,
        metavar="FILE.json",
        help="JSON Schema of the object to extract (docs/architecture.md lists the subset).",
    ),
    click.option("--instructions", default=None, help="Extra instructions for the model."),
    click.option(
        "--max-retries",
        type=click.IntRange(min=0),
        default=2,
        show_default=True,
        help="Re-asks after a validation error.",
    ),
    click.option(
        "--max-input-tokens",
        type=click.IntRange(min=1),
        default=None,
        help="Token budget for each item's text (longer text is cut; default: what the "
        "context leaves after the prompt).",
    ),
]


def extract_kwargs(
    schema_file: str, instructions: str | None, max_retries: int, max_input_tokens: int | None
) -> dict[str, Any]:
    """Extractor keyword arguments; an unsupported schema fails here, before a model loads."""
    from edgewise.structured import compile_schema

    try:
        schema = json.loads(read_file_text(schema_file))
    except ValueError as exc:
        raise InputError(f"{schema_file}: not valid JSON ({exc})") from None
    check_unicode(json.dumps(schema, ensure_ascii=False), schema_file, position=False)
    compile_schema(schema)
    return {
        "schema": schema,
        "instructions": instructions,
        "max_retries": max_retries,
        "max_input_tokens": max_input_tokens,
    }


@click.command()
@model_option
@apply_options(extract_options)
@with_input_options
@click.argument("text", required=False)
def extract(
    model: str | None,
    schema_file: str,
    instructions: str | None,
    max_retries: int,
    max_input_tokens: int | None,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    text: str | None,
) -> None:
    """Extract a JSON object matching --schema from TEXT ('-' for stdin) or --input records."""
    from edgewise.tasks.extract import Extraction, Extractor

    kwargs = extract_kwargs(schema_file, instructions, max_retries, max_input_tokens)
    items = read_items(text, input_path, field)
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        extractor = Extractor(_engine(model), kwargs.pop("schema"), **kwargs)
        good = [it for it in items if it.error is None]
        progress = ProgressLine("extract")
        results = iter(extractor.extract_many([it.text for it in good], progress=progress))
        progress.close()
        single = input_path is None and jsonl_out is None
        failed = 0
        for it in items:
            if it.error is not None:
                failed += 1
                sink.write({"id": it.id, **_failed(Extraction, it.error)})
                continue
            r = next(results)
            failed += r.error is not None
            if single:
                if r.error is not None:
                    raise InputError(r.error)
                click.echo(json.dumps(r.value, ensure_ascii=False))
            else:
                sink.write({"id": it.id, **r.model_dump()})
    _finish(failed, len(items), "items")


summarize_options = [
    click.option(
        "--type",
        "-t",
        "kind",
        type=click.Choice(["tldr", "key_points", "headline", "teaser"]),
        default="tldr",
        show_default=True,
    ),
    click.option(
        "--length",
        "-l",
        type=click.Choice(["short", "medium", "long"]),
        default="medium",
        show_default=True,
    ),
    click.option(
        "--language", default=None, help="Write the summary in this language (default: the text's)."
    ),
    click.option("--context", default=None, help="Background for the model, e.g. 'a voice note'."),
]


def summarize_kwargs(
    kind: str, length: str, language: str | None, context: str | None
) -> dict[str, Any]:
    """Summarizer keyword arguments from the summarize options."""
    return {"type": kind, "length": length, "language": language, "context": context}


@click.command()
@model_option
@apply_options(summarize_options)
@with_input_options
@click.argument("file", required=False)
def summarize(
    model: str | None,
    kind: str,
    length: str,
    language: str | None,
    context: str | None,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    file: str | None,
) -> None:
    """Summarize FILE ('-' for stdin) or every record of --input; long text is map-reduced."""
    from edgewise.tasks.summarize import Summarizer, Summary

    if file is not None and file != "-" and input_path is None:
        input_path = file
        file = None
    items = read_items(file, input_path, field, arg="FILE")
    single = len(items) == 1 and jsonl_out is None and not (input_path or "").endswith(".jsonl")
    failed = 0
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        summarizer = Summarizer(_engine(model), **summarize_kwargs(kind, length, language, context))
        for it in items:
            if it.error is None:
                progress = ProgressLine(f"summarize {it.id}", min_items=2)
                try:
                    summary = summarizer.summarize(it.text, progress=progress)
                except EdgewiseError as exc:
                    if single:
                        raise
                    it.error = str(exc)
                finally:
                    progress.close()
            if it.error is not None:
                failed += 1
                row = _failed(Summary, it.error)
                sink.write({"id": it.id, **row, "type": kind, "length": length})
            elif single:
                click.echo(summary.text)
            else:
                sink.write({"id": it.id, **summary.model_dump(), "error": None})
    _finish(failed, len(items), "items")
