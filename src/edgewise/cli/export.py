"""``edgewise export``: convert a model for other runtimes (``export onnx``)."""

from __future__ import annotations

import json

import click

from edgewise.cli.common import status
from edgewise.hub.onnx_export import (
    DEFAULT_PRECISION,
    EXECUTION_PROVIDERS,
    PRECISIONS,
)


@click.group()
def export() -> None:
    """Export a model to another format."""


@export.command("onnx")
@click.argument("model", metavar="MODEL")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, dir_okay=True),
    help="Folder to create (must not exist); `edgewise run -m FOLDER` then uses it.",
)
@click.option(
    "-p",
    "--precision",
    type=click.Choice(PRECISIONS, case_sensitive=False),
    default=DEFAULT_PRECISION,
    show_default=True,
    help="Weights of the ONNX model: int8 is close to the GGUF and faster; fp32 matches it "
    "exactly; int4 is fastest but re-quantizes 4-bit weights; fp16 is for GPU providers.",
)
@click.option(
    "-e",
    "--execution-provider",
    type=click.Choice(EXECUTION_PROVIDERS, case_sensitive=False),
    default="cpu",
    show_default=True,
    help="ONNX Runtime execution provider the model is built for.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def onnx(model: str, output: str, precision: str, execution_provider: str, as_json: bool) -> None:
    """Export MODEL (catalog name, registered name or GGUF path) to an ONNX Runtime GenAI
    folder. Needs the onnx extra: pip install 'edgewise[onnx]'."""
    from edgewise.hub.onnx_export import export_onnx

    result = export_onnx(
        model,
        output,
        precision=precision,
        execution_provider=execution_provider,
        progress=status,
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(result.path),
                    "source": result.source,
                    "precision": result.precision,
                    "execution_provider": result.execution_provider,
                    "size": result.size,
                    "seconds": round(result.seconds, 1),
                }
            )
        )
    else:
        click.echo(
            f"{result.path}: {result.source} as ONNX ({result.precision}, "
            f"{result.execution_provider}), {result.size / 1e6:.0f} MB in {result.seconds:.0f} s"
        )
