"""``edgewise batch --ray``: the same job on a local Ray instance (2 CPUs, no dashboard) gives
the same rows as the local batch run. One module, few rows: starting Ray is slow."""

from __future__ import annotations

import json

import pytest
import ray

from edgewise.batch import JobSpec, run_batch
from edgewise.batch.ray_runner import read_output, run_ray

pytestmark = [
    # Ray Data's own deprecation notices about its internal settings, not about this code
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TEXTS = [
    "WIN a FREE cruise now, click here",
    "Lunch tomorrow at noon?",
    "Cheap meds online, no prescription",
    "Minutes of the team meeting attached",
    "You are our lucky winner, claim your prize",
    "Can you review my pull request",
]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "ms"}  # model time differs from run to run


def test_ray_output_equals_the_local_batch_output(tmp_path, local_ray):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": f"m{i}", "text": t}) for i, t in enumerate(TEXTS)]
    src.write_text("\n".join(lines + ['{"id": "nofield"}']) + "\n")
    spec = JobSpec(task="classify", options={"labels": ["spam", "ham"]})
    run_batch(spec, src, tmp_path / "local.jsonl", workers=1, chunk_size=4)
    local = {
        r["id"]: _comparable(r)
        for r in map(json.loads, (tmp_path / "local.jsonl").read_text().splitlines())
    }

    res = run_ray(spec, src, str(tmp_path / "ray-jsonl"), actors=2, chunk_size=4)
    assert res.total == 7 and res.failed == 1 and res.actors == 2
    rows = read_output(str(tmp_path / "ray-jsonl"))
    assert sorted(r["id"] for r in rows) == sorted(local)  # every id once
    assert {r["id"]: _comparable(r) for r in rows} == local

    run_ray(spec, src, str(tmp_path / "ray-jsonl"), actors=2, chunk_size=4)  # a rerun
    assert len(read_output(str(tmp_path / "ray-jsonl"))) == 7  # replaces, does not add

    res = run_ray(
        spec, src, str(tmp_path / "ray-parquet"), actors=2, chunk_size=4, out_format="parquet"
    )
    assert res.failed == 1
    table = read_output(str(tmp_path / "ray-parquet"), "parquet")
    by_id = {r["id"]: r for r in table}
    assert set(by_id) == set(local)
    for rid, want in local.items():
        got = by_id[rid]
        assert got["label"] == want["label"] and got["error"] == want["error"]
        if want["error"] is None:
            assert got["scores"] == want["scores"]
