"""Run a batch job on Ray Data: an actor pool of engines, one model load per actor.

The driver reads the input with the same reader as the local run and cuts it into the same
fixed chunks; each chunk is one row of a Ray dataset. ``map_batches`` sends chunks to a pool of
``ChunkActor`` actors (``concurrency`` = the pool size), each holding one engine and one
``Processor``, and the rows come back out as JSONL lines or Parquet files written by the Ray
workers themselves. Same chunks and same code give the same output as ``run_batch``.

Where files live: the driver reads INPUT, so it must be readable where the driver runs (its
records travel to the actors through Ray's object store). OUTPUT is written by the actors,
so on a cluster of several machines it must be shared storage (an NFS path mounted at the same
place on every node) or an object-store URI (``s3://bucket/prefix``, ``gs://...``) that
pyarrow can open there. The model must be resolvable on every node (the same catalog name or
path, e.g. the embedded model, which every node with edgewise installed has).

Fault tolerance is Ray's: a failed task is retried and a dead actor restarted. A run whose
driver dies is not resumed; run it again (the output directory is replaced).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgewise.batch.job import (
    JobSpec,
    Processor,
    Record,
    calibration_sample,
    iter_records,
    load_engine,
    unique_ids,
)
from edgewise.errors import InputError, MissingExtraError


@dataclass
class RayResult:
    output: str
    total: int
    failed: int
    seconds: float
    actors: int


class ChunkActor:
    """A Ray Data callable class: one engine per actor, a batch of chunks in, rows out."""

    def __init__(self, spec_json: str, threads: int) -> None:
        spec = JobSpec.model_validate_json(spec_json)
        self.processor = Processor(spec, load_engine(spec, threads))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        ids: list[str] = []
        lines: list[str] = []
        for chunk in batch["chunk"]:
            recs = [Record.from_row(r) for r in json.loads(chunk)]
            for row in self.processor.process(recs):
                ids.append(row["id"])
                lines.append(json.dumps(row, ensure_ascii=False))
        return {"id": ids, "json": lines}


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingExtraError("ray", "ray[data]", "edgewise batch --ray") from None
    return ray


def _jsonl_sink(path: str) -> Any:
    from ray.data.datasource import BlockBasedFileDatasink

    class JsonlLines(BlockBasedFileDatasink):  # type: ignore[misc]
        """Writes the rows' JSON text as lines: files that read like the local output."""

        def write_block_to_file(self, block: Any, file: Any) -> None:
            table = block.to_arrow()
            text = "".join(line + "\n" for line in table.column("json").to_pylist())
            file.write(text.encode("utf-8"))

    return JsonlLines(path, file_format="jsonl", mode=_overwrite())


def _overwrite() -> Any:
    """Replace an earlier run's files, so a rerun does not add a second copy of every row."""
    import ray.data

    return ray.data.SaveMode.OVERWRITE


def _to_parquet_rows(batch: dict[str, Any]) -> Any:
    import pyarrow as pa

    rows = [json.loads(s) for s in batch["json"]]
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # rows whose nested values do not share one type: keep those columns as JSON text
        keys = list(dict.fromkeys(k for r in rows for k in r))
        cols = {}
        for k in keys:
            vals = [r.get(k) for r in rows]
            try:
                cols[k] = pa.array(vals)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                cols[k] = pa.array([json.dumps(v) for v in vals])
        return pa.table(cols)


def run_ray(
    spec: JobSpec,
    input_path: str | Path,
    output: str,
    *,
    address: str | None = None,
    actors: int | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
    out_format: str = "jsonl",
    chunks_per_call: int = 1,
) -> RayResult:
    """Run ``spec`` over ``input_path`` on Ray; write ``output`` (a directory or URI prefix).

    ``address`` None starts a local Ray instance unless one is already initialised; otherwise
    it is passed to ``ray.init`` (``auto``, ``HOST:PORT``, ``ray://HOST:10001``). ``actors``
    defaults to the cluster's CPUs divided by ``threads`` (default 1 thread per actor)."""
    if out_format not in ("jsonl", "parquet"):
        raise InputError(f"unknown output format {out_format!r}: use jsonl or parquet")
    ray = _import_ray()
    t0 = time.perf_counter()
    spec = spec.pinned()
    size = chunk_size or spec.bound().batch_chunk
    records = list(unique_ids(iter_records(spec, input_path)))
    if not records:
        raise InputError(f"{input_path}: no records")
    spec = spec.model_copy(update={"calibration_texts": calibration_sample(spec, records)})
    chunks = [
        {"chunk": json.dumps([r.to_row() for r in records[i : i + size]], ensure_ascii=False)}
        for i in range(0, len(records), size)
    ]
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    threads = threads or 1
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    actors = min(actors, len(chunks))
    import ray.data

    ds = ray.data.from_items(chunks, override_num_blocks=len(chunks))
    out = ds.map_batches(
        ChunkActor,
        fn_constructor_args=(spec.model_dump_json(), threads),
        batch_size=chunks_per_call,
        concurrency=actors,
        num_cpus=threads,
    )
    if out_format == "parquet":
        out = out.map_batches(_to_parquet_rows, batch_size=None, batch_format="numpy")
        out.write_parquet(output, mode=_overwrite())
    else:
        out.write_datasink(_jsonl_sink(output))
    failed = _count_failed(output, out_format)
    return RayResult(
        output=output,
        total=len(records),
        failed=failed,
        seconds=time.perf_counter() - t0,
        actors=actors,
    )


def read_output(output: str, out_format: str = "jsonl") -> list[dict[str, Any]]:
    """The rows a Ray run wrote (read back through Ray Data, so URIs work too)."""
    import ray.data

    if out_format == "parquet":
        return [dict(r) for r in ray.data.read_parquet(output).iter_rows()]
    ds = ray.data.read_text(output, file_extensions=["jsonl"])
    return [json.loads(r["text"]) for r in ds.iter_rows()]


def _count_failed(output: str, out_format: str) -> int:
    import ray.data

    if out_format == "parquet":
        ds = ray.data.read_parquet(output)
        if "error" not in ds.schema().names:
            return 0
        return sum(1 for r in ds.select_columns(["error"]).iter_rows() if r["error"] is not None)
    return sum(1 for r in read_output(output) if r.get("error") is not None)
