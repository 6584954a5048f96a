"""``edgewise bench``: a shell over edgewise.bench."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from edgewise.bench.verdict import DEFAULT_TOLERANCE
from edgewise.cli.options import read_descriptions, read_examples, read_schema
from edgewise.errors import InputError, PartialFailure


@click.command()
@click.option(
    "--models",
    "-m",
    required=True,
    help="Comma-separated: catalog names, NAME@QUANT (e.g. smollm2-135m@Q8_0), GGUF paths, "
    "ONNX folders.",
)
@click.option(
    "--task",
    type=click.Choice(["classify", "extract", "summarize", "generate"]),
    default=None,
    help="The task to run on --data; without it, only the synthetic pp/tg measurement.",
)
@click.option("--data", "data_path", default=None, metavar="FILE.jsonl", help="One item per line.")
@click.option(
    "--text-field",
    default=None,
    help="Field holding the text, or a template such as '{subject}\\n\\n{body}' "
    "(default: text; prompt for generate).",
)
@click.option(
    "--gold-field",
    default=None,
    help="Field holding the gold answer (default: label, gold, summary, reference by task).",
)
@click.option("--labels", default=None, help="classify: a,b,c (default: the gold labels seen).")
@click.option("--descriptions", default=None, metavar="FILE.json", help="classify: label -> text.")
@click.option("--examples", default=None, metavar="FILE.jsonl", help="classify: {text, label}.")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="classify: items per classify_many call; an item's latency is its call's time shared "
    "by the batch (1: one call per item, as an app classifying one email at a time).",
)
@click.option("--schema", "schema_file", default=None, metavar="FILE", help="extract: JSON Schema.")
@click.option(
    "--type", "summary_type", default="tldr", show_default=True, help="summarize: summary type."
)
@click.option("--length", default="medium", show_default=True, help="summarize: length.")
@click.option("--max-tokens", default=128, show_default=True, help="generate: tokens per item.")
@click.option("--max-input-tokens", type=int, default=None, help="Token budget per item's text.")
@click.option("--limit", type=int, default=None, help="Use only the first N usable records.")
@click.option("--repeats", default=1, show_default=True, help="Timed passes over the data.")
@click.option("--warmup", default=2, show_default=True, help="Untimed items run first.")
@click.option("--pp", default=512, show_default=True, help="Synthetic prompt tokens (0: skip).")
@click.option("--tg", default=128, show_default=True, help="Synthetic decode tokens (0: skip).")
@click.option("--threads", type=int, default=None, help="CPU threads (default: EDGEWISE_THREADS).")
@click.option(
    "--max-latency",
    default=None,
    metavar="MS",
    help="Verdict: ship only a model whose p95 latency per item is at most this "
    "(500, 500ms or 1.5s).",
)
@click.option(
    "--max-memory",
    default=None,
    metavar="SIZE",
    help="Verdict: ship only a model whose peak RSS is at most this (800M, 1.5G).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 1),
    default=DEFAULT_TOLERANCE,
    show_default=True,
    help="Verdict: quality a faster model may lose against the best and still ship "
    "(0.01: one point of accuracy).",
)
@click.option("--json", "json_out", default=None, metavar="OUT.json", help="Write all results.")
@click.option("--html", "html_out", default=None, metavar="OUT.html", help="Write the report.")
def bench(**kw: Any) -> None:
    """Measure models side by side: load time, peak RSS, prompt and decode speed, latency per
    item (p50/p95/p99), items/s, and quality against the data's gold answers; then say which
    model to ship: the fastest (p95) whose quality is within --tolerance of the best, among
    those within --max-latency and --max-memory."""
    from edgewise.bench.data import load_items
    from edgewise.bench.report import table, to_html
    from edgewise.bench.runner import MB
    from edgewise.bench.runner import bench as run_bench
    from edgewise.bench.verdict import choose, parse_latency_ms
    from edgewise.server.settings import parse_size
    from edgewise.store import atomic_write_text

    task = kw["task"]
    max_latency = parse_latency_ms(kw["max_latency"]) if kw["max_latency"] is not None else None
    max_memory = None
    if kw["max_memory"] is not None:
        try:
            max_memory = parse_size(kw["max_memory"]) / MB
        except InputError as exc:
            raise InputError(f"--max-memory: {exc}") from None
    if max_latency is not None and task is None:
        raise InputError(
            "--max-latency limits the p95 latency per item; it needs --task and --data"
        )
    items: list[Any] = []
    problems: list[str] = []
    if task is None and kw["data_path"]:
        raise InputError("--data needs --task (classify, extract, summarize or generate)")
    if task is not None:
        if not kw["data_path"]:
            raise InputError(f"--task {task} needs --data FILE.jsonl")
        items, problems = load_items(
            kw["data_path"],
            task,
            text_field=kw["text_field"],
            gold_field=kw["gold_field"],
            limit=kw["limit"],
        )
        for p in problems[:20]:
            click.echo(f"warning: {kw['data_path']} {p} (skipped)", err=True)
        if len(problems) > 20:
            click.echo(f"warning: {len(problems) - 20} more lines skipped", err=True)
    options: dict[str, Any] = {"max_input_tokens": kw["max_input_tokens"]}
    if task == "extract":
        if not kw["schema_file"]:
            raise InputError("--task extract needs --schema FILE")
        options["schema"] = read_schema(kw["schema_file"])
    elif task == "classify":
        options["descriptions"] = read_descriptions(kw["descriptions"])
        options["examples"] = read_examples(kw["examples"])
        options["batch"] = kw["batch"]
    elif task == "summarize":
        from edgewise.tasks.summarize import BUDGETS

        if kw["summary_type"] not in BUDGETS:
            raise InputError(f"unknown --type {kw['summary_type']!r}; use {', '.join(BUDGETS)}")
        if kw["length"] not in BUDGETS[kw["summary_type"]]:
            raise InputError(f"unknown --length {kw['length']!r}; use short, medium or long")
        options.update(type=kw["summary_type"], length=kw["length"])
    elif task == "generate":
        options["max_tokens"] = kw["max_tokens"]
    labels = [s.strip() for s in kw["labels"].split(",") if s.strip()] if kw["labels"] else None
    tty = sys.stderr.isatty()
    report = run_bench(
        kw["models"],
        task=task,
        items=items,
        labels=labels,
        options=options,
        repeats=kw["repeats"],
        warmup=kw["warmup"],
        pp=kw["pp"],
        tg=kw["tg"],
        threads=kw["threads"],
        progress=(lambda msg: click.echo(msg, err=True)) if tty else None,
    )
    report["data"] = {"path": kw["data_path"], "skipped": problems}
    report["verdict"] = choose(
        report, tolerance=kw["tolerance"], max_latency_ms=max_latency, max_memory_mb=max_memory
    )
    click.echo(table(report))
    click.echo()
    click.echo(report["verdict"]["text"])
    if kw["json_out"]:
        atomic_write_text(Path(kw["json_out"]), json.dumps(report, indent=1) + "\n")
    if kw["html_out"]:
        atomic_write_text(Path(kw["html_out"]), to_html(report))
    failed = [m["name"] for m in report["models"] if m.get("error")]
    if failed:
        raise PartialFailure(len(failed), len(report["models"]), "models")
    if problems:
        raise PartialFailure(len(problems), len(problems) + len(items), "records")
