"""``edgewise batch classify|extract|summarize|triage``: a task over a whole file, crash-safe
and resumable, on local worker processes or on Ray. A shell over edgewise.batch."""

from __future__ import annotations

from typing import Any

import click

from edgewise.cli.common import model_option
from edgewise.cli.options import apply_options, task_from_cli, task_options
from edgewise.errors import PartialFailure
from edgewise.tasks.registry import get_task, task_names

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


def _run(task: str, kw: dict[str, Any]) -> None:
    from edgewise.batch import JobSpec, ProgressBar, run_batch

    options = task_from_cli(task, kw).options  # option files are read and checked here
    spec = JobSpec(
        task=task,
        options=options.model_dump(mode="json", by_alias=True),
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


@click.group()
def batch() -> None:
    """Run a task over a whole file: crash-safe, resumable, on every core or on Ray.

    Every input record gets exactly one output line with its id (its result, or its error);
    kill the job at any point and run the same command again to continue.
    """


HELP = {
    "classify": "Classify every record of the JSONL file INPUT into one of --labels.",
    "extract": "Extract a JSON object matching --schema from every record of the JSONL file INPUT.",
    "summarize": "Summarize every record of the JSONL file INPUT.",
    "triage": "Triage every email of INBOX (mbox, directory of .eml files, or JSONL).",
}


def _command(task: str) -> click.Command:
    """``edgewise batch TASK``: the task's own options (as ``edgewise TASK`` has them), the
    JSONL field (not for triage, which reads an inbox), and the run options."""
    inbox = get_task(task).inbox

    def command(**kw: Any) -> None:
        _run(task, kw)

    command.__doc__ = HELP.get(task, f"Run {task} on every record of the JSONL file INPUT.")
    for deco in reversed(
        [
            model_option,
            task_options(task),
            *([] if inbox else [field_option]),
            apply_options(run_options),
            click.argument("input_path", metavar="INBOX" if inbox else "INPUT"),
        ]
    ):
        command = deco(command)
    return click.command(task)(command)


for _task in task_names(batch=True):
    batch.add_command(_command(_task))
