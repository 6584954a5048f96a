"""``edgewise profile ...``, ``feedback``, ``compose``, ``rewrite``: shells over edgewise.personal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgewise.cli import common
from edgewise.cli.common import model_option, status
from edgewise.cli.io import read_items
from edgewise.errors import InputError
from edgewise.store import atomic_write_text


def _open(name: str) -> Any:
    from edgewise.personal.profile import Profile

    return Profile.open(name)


@click.group()
def profile() -> None:
    """Profiles: one user's corrections, writing and items, kept in one local SQLite file."""


@profile.command("create")
@click.option("--labels", "-l", default=None, help="Fix the label set, e.g. spam,ham.")
@click.argument("name")
def create(name: str, labels: str | None) -> None:
    """Create the profile NAME."""
    from edgewise.personal.profile import Profile

    label_list = [p.strip() for p in labels.split(",")] if labels else None
    with Profile.create(name, labels=label_list) as prof:
        click.echo(str(prof.path))


@profile.command("list")
def list_() -> None:
    """List the profiles."""
    from edgewise.personal.profile import list_profiles

    for name in list_profiles():
        click.echo(name)


@profile.command("show")
@click.option("--check", is_flag=True, help="Also run SQLite's integrity check.")
@click.argument("name")
def show(name: str, check: bool) -> None:
    """Counts, labels and size of the profile NAME, as JSON."""
    with _open(name) as prof:
        info = prof.info()
        if check:
            info["integrity"] = prof.integrity()
    click.echo(json.dumps(info, indent=2, ensure_ascii=False))


@profile.command("export")
@click.option("--out", "-o", default=None, metavar="FILE", help="Write to FILE (atomically).")
@click.option("--no-embeddings", is_flag=True, help="Leave out the cached vectors.")
@click.argument("name")
def export(name: str, out: str | None, no_embeddings: bool) -> None:
    """Everything in the profile NAME as JSON."""
    with _open(name) as prof:
        text = json.dumps(prof.export(embeddings=not no_embeddings), ensure_ascii=False, indent=1)
    if out:
        atomic_write_text(Path(out), text + "\n")
        status(f"wrote {out}")
    else:
        click.echo(text)


@profile.command("delete")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.argument("name")
def delete(name: str, yes: bool) -> None:
    """Delete the profile NAME (its file and the -wal/-shm files)."""
    from edgewise.personal.profile import delete_profile, profile_path

    path = profile_path(name)
    if not yes and not click.confirm(f"delete {path}?", default=False, err=True):
        raise InputError("not deleted")
    delete_profile(name)
    status(f"deleted {path}")


@profile.command("add-items")
@click.option("--profile", "-p", "profile_name", required=True)
@click.option("--field", default="text", show_default=True)
@click.argument("input_path", metavar="FILE.jsonl")
def add_items(profile_name: str, field: str, input_path: str) -> None:
    """Add items ({"id", "text", ...} per line) for recommendations."""
    items = read_items(None, input_path, field)
    bad = [it for it in items if it.error]
    if bad:
        raise InputError(f"{input_path}: {bad[0].error}")
    with _open(profile_name) as prof:
        ids = prof.add_items([{**it.record, "id": it.id, "text": it.text} for it in items])
    status(f"added {len(ids)} items")


def _rate(profile_name: str, ids: tuple[str, ...], how: str) -> None:
    with _open(profile_name) as prof:
        for item_id in ids:
            getattr(prof, how)(item_id)


@profile.command("like")
@click.option("--profile", "-p", "profile_name", required=True)
@click.argument("item_ids", nargs=-1, required=True)
def like(profile_name: str, item_ids: tuple[str, ...]) -> None:
    """Mark items as liked."""
    _rate(profile_name, item_ids, "like")


@profile.command("dislike")
@click.option("--profile", "-p", "profile_name", required=True)
@click.argument("item_ids", nargs=-1, required=True)
def dislike(profile_name: str, item_ids: tuple[str, ...]) -> None:
    """Mark items as disliked."""
    _rate(profile_name, item_ids, "dislike")


@click.command()
@click.option("--profile", "-p", "profile_name", required=True, help="The profile to teach.")
@click.option("--label", "-l", default=None, help="The right label for TEXT (or every record).")
@click.option(
    "--input",
    "-i",
    "input_path",
    default=None,
    metavar="FILE",
    help="A .jsonl file of records (text in --field; label in --label-field unless --label).",
)
@click.option("--field", default="text", show_default=True)
@click.option("--label-field", default="label", show_default=True)
@click.argument("text", required=False)
def feedback(
    profile_name: str,
    label: str | None,
    input_path: str | None,
    field: str,
    label_field: str,
    text: str | None,
) -> None:
    """Record that TEXT (or each record of --input) should have been classified as --label."""
    items = read_items(text, input_path, field)
    pairs = []
    for it in items:
        if it.error:
            raise InputError(f"{input_path}: {it.error}")
        lab = label if label is not None else it.record.get(label_field)
        if not isinstance(lab, str):
            where = f"{input_path} record {it.id}" if input_path else "TEXT"
            raise InputError(f"{where}: no label; give --label or a {label_field!r} field")
        pairs.append((it.text, lab))
    with _open(profile_name) as prof:
        ids = prof.correct_many(pairs)  # one transaction: all or none
        total = prof.info()["corrections"]
    status(f"recorded {len(ids)} correction(s); profile {profile_name} has {total}")


@profile.command("add-writing")
@click.option("--profile", "-p", "profile_name", required=True)
@click.option("--field", default="text", show_default=True, help="JSONL field with the text.")
@click.argument("sources", nargs=-1, required=True, metavar="FILE|TEXT...")
def add_writing(profile_name: str, field: str, sources: tuple[str, ...]) -> None:
    """Add samples of the user's own writing: text files, .jsonl files, or TEXT arguments."""
    texts: list[str] = []
    for src in sources:
        if Path(src).is_file():
            items = read_items(None, src, field)
            bad = [it for it in items if it.error]
            if bad:
                raise InputError(f"{src}: {bad[0].error}")
            texts += [it.text for it in items]
        else:
            texts.append(src)
    with _open(profile_name) as prof:
        n = prof.add_writing(texts)
    status(f"added {n} writing sample(s)")


@profile.command("recommend")
@click.option("--profile", "-p", "profile_name", required=True)
@click.option(
    "--input",
    "-i",
    "input_path",
    default=None,
    metavar="FILE.jsonl",
    help="Candidates ({id, text} per line); default: the profile's unrated items.",
)
@click.option("-k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--diversity",
    type=click.FloatRange(0, 1),
    default=None,
    help="0 = pure relevance; default 0.3.",
)
@click.option("--model-reasons", is_flag=True, help="Have the model write each reason.")
@model_option
def recommend_cmd(
    profile_name: str,
    input_path: str | None,
    k: int,
    diversity: float | None,
    model_reasons: bool,
    model: str | None,
) -> None:
    """Recommend items by the profile's likes and dislikes, one JSON object per line."""
    candidates = None
    if input_path is not None:
        items = read_items(None, input_path, "text")
        bad = [it for it in items if it.error]
        if bad:
            raise InputError(f"{input_path}: {bad[0].error}")
        candidates = [{**it.record, "id": it.id, "text": it.text} for it in items]
    with _open(profile_name) as prof:
        engine = common.load_engine(model) if model_reasons else None
        recs = prof.recommend(
            candidates,
            k,
            diversity=diversity,
            reasons="model" if model_reasons else "template",
            engine=engine,
        )
    for rec in recs:
        click.echo(json.dumps(rec.model_dump(), ensure_ascii=False))


@click.command()
@model_option
@click.option("--profile", "-p", "profile_name", default=None, help="Write in this user's style.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.argument("instructions")
def compose(
    model: str | None, profile_name: str | None, max_tokens: int | None, instructions: str
) -> None:
    """Write a message from INSTRUCTIONS ('-' for stdin), in the profile's style."""
    from edgewise.cli.common import read_text_arg
    from edgewise.personal.style import compose as run

    text = read_text_arg(instructions)
    prof = _open(profile_name) if profile_name else None
    try:
        out = run(text, profile=prof, engine=common.load_engine(model), max_tokens=max_tokens)
    finally:
        if prof is not None:
            prof.close()
    click.echo(out.text)


@click.command()
@model_option
@click.option("--profile", "-p", "profile_name", default=None, help="Write in this user's style.")
@click.option("--tone", default=None, help="e.g. friendly, formal, shorter.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.argument("text")
def rewrite(
    model: str | None,
    profile_name: str | None,
    tone: str | None,
    max_tokens: int | None,
    text: str,
) -> None:
    """Rewrite TEXT ('-' for stdin) in --tone, the way the profile's user writes."""
    from edgewise.cli.common import read_text_arg
    from edgewise.personal.style import rewrite as run

    body = read_text_arg(text)
    prof = _open(profile_name) if profile_name else None
    try:
        out = run(
            body, tone=tone, profile=prof, engine=common.load_engine(model), max_tokens=max_tokens
        )
    finally:
        if prof is not None:
            prof.close()
    click.echo(out.text)
