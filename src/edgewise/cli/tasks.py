"""``edgewise classify``, ``route``, ``triage``, ``extract`` and ``summarize``: shells over the
task registry (``edgewise.tasks.registry``).

Each command reads its items and options (a bad file fails before the model loads), builds
its task, and hands both to ``run_rows``: the one loop that writes every item's row (its
result, or its error with the same keys), draws the progress line and exits with status 3
when some items failed. What differs between the commands is only how they read their input
and how they show a single result.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from edgewise.cli import common
from edgewise.cli.common import model_option
from edgewise.cli.io import JsonlSink, ProgressLine, read_items
from edgewise.cli.options import task_from_cli, task_options
from edgewise.errors import InputError, PartialFailure
from edgewise.tasks.registry import Failure, Item, Task

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


Show = Callable[[dict[str, Any], Any], None]


def run_rows(
    task: Task[Any, Any],
    items: Iterable[Item],
    sink: Any,
    *,
    show: Show | None = None,
    single: bool = False,
    progress: ProgressLine | None = None,
    total: int | None = None,
) -> tuple[int, int]:
    """Every item's row to ``sink`` (or to ``show(row, result)``), in order; returns (items,
    failed). ``single``: one item shown as it is, whose error is the command's error."""
    progress = progress or ProgressLine(task.name)
    count = failed = 0
    for item, result in task.results(items, progress=progress, total=total):
        row = task.row(item, result)
        count += 1
        failed += row.get("error") is not None
        if single and row.get("error") is not None:
            progress.close()
            if isinstance(result, Failure) and result.exception is not None:
                raise result.exception
            raise InputError(row["error"])
        if show is not None or sink.to_stdout:
            progress.clear()  # the rows and the progress line share the terminal
        if show is not None:
            show(row, result)
        else:
            sink.write(row)
    if show is not None:
        progress.clear()  # what was shown says it is done
    progress.close()
    return count, failed


def _finish(failed: int, total: int, what: str = "items") -> None:
    if failed:
        raise PartialFailure(failed, total, what)


@click.command()
@model_option
@task_options("classify")
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
    profile_name: str | None,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    text: str | None,
    **kw: Any,
) -> None:
    """Classify TEXT ('-' for stdin) or every record of --input into one of --labels."""
    items = read_items(text, input_path, field)
    task = task_from_cli("classify", kw)
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        if profile_name is not None:
            from edgewise.personal.learn import PersonalClassifier
            from edgewise.personal.profile import Profile

            if task.options.examples is not None:
                raise InputError(
                    "--examples and --profile exclude each other: the profile's corrections are the examples"
                )
            profile = Profile.open(profile_name)  # before loading the model: a typo fails fast
            options = task.options
            runner = PersonalClassifier(
                common.load_engine(model), options.labels, profile, **options.classifier_kwargs()
            )
            task = type(task)(options, runner=runner)
        else:
            task.build(common.load_engine(model))

        def show(row: dict[str, Any], _result: Any) -> None:
            shown = ",".join(row["labels"]) or "(abstained)"
            click.echo(f"{shown}\t{row['confidence']:.3f}")

        single = input_path is None and jsonl_out is None
        count, failed = run_rows(task, items, sink, show=show if single else None, single=single)
    _finish(failed, count)


@click.command()
@model_option
@task_options("route")
@with_input_options
@click.argument("text", required=False)
def route(
    model: str | None,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    text: str | None,
    **kw: Any,
) -> None:
    """Route TEXT ('-' for stdin) or every record of --input to its label's action."""
    task = task_from_cli("route", kw)  # the rules are checked before loading a model
    items = read_items(text, input_path, field)
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        task.build(common.load_engine(model))
        single = input_path is None and jsonl_out is None  # a JSONL row still, as classify's
        count, failed = run_rows(task, items, sink, single=single)
    _finish(failed, count)


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


class _NullSink:
    to_stdout = False

    def write(self, obj: dict[str, Any]) -> None:
        pass

    def __enter__(self) -> _NullSink:
        return self

    def __exit__(self, *_: Any) -> None:
        pass


@click.command()
@model_option
@task_options("triage")
@click.option(
    "--jsonl",
    "jsonl_out",
    default=None,
    metavar="OUT",
    help="Also write every result as JSONL to OUT (atomically).",
)
@click.argument("inbox", type=click.Path(path_type=Path))
def triage(model: str | None, jsonl_out: str | None, inbox: Path, **kw: Any) -> None:
    """Label every email of INBOX (mbox, directory of .eml, or JSONL) and print a table."""
    from edgewise.tasks.mail import count_inbox, read_inbox
    from edgewise.tasks.registry import email_item

    task = task_from_cli("triage", kw)
    abstain = task.options.abstain_label
    emails = read_inbox(inbox)
    first = next(emails, None)  # a missing or empty inbox fails before the model loads
    if first is None:
        raise InputError(f"{inbox}: no messages")

    def all_items() -> Any:
        yield email_item(first)
        for mail in emails:
            yield email_item(mail)

    counts: dict[str, int] = {}
    expected = count_inbox(inbox)
    with JsonlSink(jsonl_out) if jsonl_out else _NullSink() as sink:  # fails before the model
        task.build(common.load_engine(model))
        header = f"{'id':<28} {'from':<26} {'subject':<34} {'label':<13} {'conf':>5} {'ms':>7}"
        click.echo(header)
        click.echo("-" * len(header))

        def show(row: dict[str, Any], r: Any) -> None:
            label = r.label if r.error is None else "ERROR"
            if r.error is None and r.abstained and r.label != abstain:
                label = "abstain"  # the rules' abstain route, as `edgewise route` names it
            counts[label or "?"] = counts.get(label or "?", 0) + 1
            if r.error is not None:
                click.echo(f"{_fit(r.id, 28)} {_fit(r.sender, 26)} {_fit(r.error, 34)} ERROR")
            else:
                click.echo(
                    f"{_fit(r.id, 28)} {_fit(r.sender, 26)} {_fit(r.subject, 34)} "
                    f"{label:<13} {r.confidence:>5.2f} {r.ms:>7.1f}"
                )
            sink.write(row)

        total, failed = run_rows(task, all_items(), sink, show=show, total=expected)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    click.echo(f"\n{total} message{'' if total == 1 else 's'} ({summary})", err=True)
    _finish(failed, total, "messages")


@click.command()
@model_option
@task_options("extract")
@with_input_options
@click.argument("text", required=False)
def extract(
    model: str | None,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    text: str | None,
    **kw: Any,
) -> None:
    """Extract a JSON object matching --schema from TEXT ('-' for stdin) or --input records."""
    task = task_from_cli("extract", kw)  # an unsupported schema fails before a model loads
    items = read_items(text, input_path, field)
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        task.build(common.load_engine(model))

        def show(row: dict[str, Any], _result: Any) -> None:
            click.echo(json.dumps(row["value"], ensure_ascii=False))

        single = input_path is None and jsonl_out is None
        count, failed = run_rows(task, items, sink, show=show if single else None, single=single)
    _finish(failed, count)


@click.command()
@model_option
@task_options("summarize")
@with_input_options
@click.argument("file", required=False)
def summarize(
    model: str | None,
    input_path: str | None,
    field: str,
    jsonl_out: str | None,
    file: str | None,
    **kw: Any,
) -> None:
    """Summarize FILE ('-' for stdin) or every record of --input; long text is map-reduced."""
    if file is not None and file != "-" and input_path is None:
        input_path = file
        file = None
    items = read_items(file, input_path, field, arg="FILE")
    task = task_from_cli("summarize", kw)
    single = len(items) == 1 and jsonl_out is None and not (input_path or "").endswith(".jsonl")
    with JsonlSink(jsonl_out) as sink:  # a bad output path fails before the model loads
        task.build(common.load_engine(model))

        def show(row: dict[str, Any], _result: Any) -> None:
            click.echo(row["text"])

        progress = ProgressLine("summarize", min_items=2)  # the pieces of one long text, too
        count, failed = run_rows(
            task, items, sink, show=show if single else None, single=single, progress=progress
        )
    _finish(failed, count)
