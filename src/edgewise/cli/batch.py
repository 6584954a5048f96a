"""``edgewise batch classify|extract|summarize|triage``: a task over a whole file, crash-safe
and resumable, on local worker processes or on Ray. A shell over edgewise.batch."""

from __future__ import annotations

from typing import Any

import click

from edgewise.cli.common import model_option
from edgewise.cli.tasks import (
    apply_options,
    classify_kwargs,
    classify_options,
    extract_kwargs,
    extract_options,
    summarize_kwargs,
    summarize_options,
    triage_kwargs,
    triage_options,
)
from edgewise.errors import PartialFailure

run_options = [
    click.option(
        "--output",
        "-o",
        required=True,
        metavar="OUT",
        help="JSONL output, one line per input record (with --ray: a directory of files).",
    ),
    click.option(
        "--workers",
        "-w",
        type=click.IntRange(min=1),
        default=None,
        help="Worker processes (Ray actors with --ray); default: what cores and memory fit.",
    ),
    click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="llama.cpp threads per worker (default: cores // workers).",
    ),
    click.option(
        "--chunk-size",
        type=click.IntRange(min=1),
        default=None,
        help="Records per model call and per checkpoint step (default: 32 for classify and "
        "triage, 4 for extract, 2 for summarize).",
    ),
    click.option(
        "--errors",
        "errors_path",
        default=None,
        metavar="FILE",
        help="Where failed records are listed with the reason [default: OUT.errors.jsonl].",
    ),
    click.option(
        "--fsync-interval",
        type=click.FloatRange(min=0),
        default=5.0,
        show_default=True,
        help="Seconds between fsyncs of the output (0: after every chunk). Rows are flushed "
        "to the OS after every chunk either way, which is what survives kill -9.",
    ),
    click.option(
        "--restart", is_flag=True, help="Discard an earlier run's output instead of resuming it."
    ),
    click.option(
        "--ray",
        "ray_address",
        is_flag=False,
        flag_value="local",
        default=None,
        metavar="[ADDRESS]",
        help="Run on Ray Data: a local Ray instance, or the cluster at ADDRESS "
        "(auto, HOST:PORT or ray://HOST:10001; write --ray=ADDRESS, or put INPUT first, so "
        "INPUT is not read as the address). Needs edgewise[ray].",
    ),
    click.option(
        "--format",
        "out_format",
        type=click.Choice(["jsonl", "parquet"]),
        default="jsonl",
        show_default=True,
        help="Output file format with --ray.",
    ),
]

field_option = click.option(
    "--field", default="text", show_default=True, help="The JSONL field holding the text."
)


def _run(task: str, options: dict[str, Any], kw: dict[str, Any]) -> None:
    from edgewise.batch import JobSpec, ProgressBar, run_batch

    spec = JobSpec(
        task=task,  # type: ignore[arg-type]  # one of the subcommands
        options=options,
        model=kw["model"],
        field=kw.get("field", "text"),
    )
    if kw["ray_address"] is not None:
        from edgewise.batch.ray_runner import run_ray

        rres = run_ray(
            spec,
            kw["input_path"],
            kw["output"],
            address=None if kw["ray_address"] == "local" else kw["ray_address"],
            actors=kw["workers"],
            threads=kw["threads"],
            chunk_size=kw["chunk_size"],
            out_format=kw["out_format"],
        )
        click.echo(
            f"{rres.total} records on Ray ({rres.actors} actors) in {rres.seconds:.1f}s "
            f"({rres.total / max(rres.seconds, 1e-9):.1f} items/s), {rres.failed} failed -> "
            f"{rres.output}",
            err=True,
        )
        if rres.failed:
            raise PartialFailure(rres.failed, rres.total, "records")
        return
    if kw["out_format"] != "jsonl":
        raise click.UsageError("--format parquet needs --ray; the local output is JSONL")
    bar = ProgressBar(f"batch {task}")
    try:
        res = run_batch(
            spec,
            kw["input_path"],
            kw["output"],
            workers=kw["workers"],
            threads=kw["threads"],
            chunk_size=kw["chunk_size"],
            errors_path=kw["errors_path"],
            fsync_interval=kw["fsync_interval"],
            restart=kw["restart"],
            progress=bar,
        )
    except KeyboardInterrupt:
        bar.close()
        click.echo("stopped; run the same command again to resume", err=True)
        raise
    bar.close()
    notes = []
    if res.resumed:
        notes.append(f"{res.resumed} done by an earlier run")
    if res.renamed_ids:
        notes.append(f"{res.renamed_ids} repeated ids renamed id#2, id#3...")
    if res.worker_restarts:
        notes.append(f"{res.worker_restarts} worker restarts")
    click.echo(
        f"{res.total} records: {res.processed} processed in {res.seconds:.1f}s "
        f"({res.rate:.1f} items/s, {res.workers} workers x {res.threads} threads), "
        f"{res.failed} failed" + (f" ({'; '.join(notes)})" if notes else "") + f" -> {res.output}",
        err=True,
    )
    if res.failed:
        click.echo(f"failed records and reasons: {res.errors}", err=True)
        raise PartialFailure(res.failed, res.total, "records")


def _pop(kw: dict[str, Any], names: list[str]) -> list[Any]:
    return [kw.pop(n) for n in names]


@click.group()
def batch() -> None:
    """Run a task over a whole file: crash-safe, resumable, on every core or on Ray.

    Every input record gets exactly one output line with its id (its result, or its error);
    kill the job at any point and run the same command again to continue.
    """


@batch.command("classify")
@model_option
@apply_options(classify_options)
@field_option
@apply_options(run_options)
@click.argument("input_path", metavar="INPUT")
def batch_classify(**kw: Any) -> None:
    """Classify every record of the JSONL file INPUT into one of --labels."""
    names = [
        "labels",
        "descriptions_file",
        "examples_file",
        "threshold",
        "max_input_tokens",
        "multi_label",
        "no_calibration",
    ]
    _run("classify", classify_kwargs(*_pop(kw, names)), kw)


@batch.command("extract")
@model_option
@apply_options(extract_options)
@field_option
@apply_options(run_options)
@click.argument("input_path", metavar="INPUT")
def batch_extract(**kw: Any) -> None:
    """Extract a JSON object matching --schema from every record of the JSONL file INPUT."""
    names = ["schema_file", "instructions", "max_retries", "max_input_tokens"]
    _run("extract", extract_kwargs(*_pop(kw, names)), kw)


@batch.command("summarize")
@model_option
@apply_options(summarize_options)
@field_option
@apply_options(run_options)
@click.argument("input_path", metavar="INPUT")
def batch_summarize(**kw: Any) -> None:
    """Summarize every record of the JSONL file INPUT."""
    _run("summarize", summarize_kwargs(*_pop(kw, ["kind", "length", "language", "context"])), kw)


@batch.command("triage")
@model_option
@apply_options(triage_options)
@apply_options(run_options)
@click.argument("input_path", metavar="INBOX")
def batch_triage(**kw: Any) -> None:
    """Triage every email of INBOX (mbox, directory of .eml files, or JSONL)."""
    kwargs, abstain = triage_kwargs(
        *_pop(kw, ["labels", "rules_path", "threshold", "max_input_tokens"])
    )
    _run("triage", {**kwargs, "abstain_label": abstain}, kw)
