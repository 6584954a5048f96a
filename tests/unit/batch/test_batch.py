"""Batch jobs without a model: input records, the crash-safe output log, refusals."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from edgewise.batch.checkpoint import Checkpoint, OutputLog, scan_output
from edgewise.batch.job import JobSpec, Record, iter_jsonl, unique_ids
from edgewise.batch.local import plan_workers
from edgewise.cli.main import cli


def test_jsonl_records_ids_from_field_or_line_and_bad_lines_kept(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"id": 7, "text": "a"}\n\n{"text": "b"}\nnot json\n{"id": "x", "body": "c"}\n[1]\n'
    )
    recs = list(iter_jsonl(path))
    assert [r.id for r in recs] == ["7", "3", "line-4", "x", "line-6"]
    assert [r.text for r in recs[:2]] == ["a", "b"]
    assert "invalid JSON" in recs[2].error and "no string field 'text'" in recs[3].error
    assert "not a JSON object" in recs[4].error


def test_repeated_ids_get_a_deterministic_suffix():
    recs = [Record(i, "t") for i in ["a", "b", "a", "a#2", "a"]]
    assert [r.id for r in unique_ids(iter(recs))] == ["a", "b", "a#2", "a#2#2", "a#3"]


def test_output_log_cuts_a_torn_tail_and_rebuilds_the_errors_file(tmp_path):
    out, err = tmp_path / "out.jsonl", tmp_path / "out.errors.jsonl"
    log = OutputLog(out, err)
    log.open(resume=False)
    log.append([{"id": "1", "label": "a", "error": None}, {"id": "2", "error": "empty text"}])
    log.close()
    err.write_text("")  # as if the process died before the errors file was written
    whole = out.read_bytes()
    with out.open("ab") as fh:
        fh.write(b'{"id": "3", "lab')  # a write cut short by kill -9
    ids, failures, good = scan_output(out)
    assert (
        ids == ["1", "2"]
        and good == len(whole)
        and failures == [{"id": "2", "error": "empty text"}]
    )

    log = OutputLog(out, err)
    log.open(resume=True)
    assert log.done_ids == {"1", "2"} and log.failed == 1 and log.dropped_bytes == 16
    log.append([{"id": "3", "label": "b", "error": None}])
    log.close()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["1", "2", "3"]
    assert [json.loads(x) for x in err.read_text().splitlines()] == [
        {"id": "2", "error": "empty text"}
    ]


def test_a_line_that_does_not_parse_ends_the_valid_prefix(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id": "1"}\n\x00\x00\x00\n{"id": "2"}\n')
    ids, _, good = scan_output(out)
    assert ids == ["1"] and good == len(b'{"id": "1"}\n')


def test_fingerprint_changes_with_options_and_input(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a"}\n')
    a = JobSpec(task="classify", options={"labels": ["x", "y"]})
    b = JobSpec(task="classify", options={"labels": ["x", "z"]})
    assert a.fingerprint(path) == a.fingerprint(path) != b.fingerprint(path)
    before = a.fingerprint(path)
    path.write_text('{"text": "a"}\n{"text": "b"}\n')
    assert a.fingerprint(path) != before


def test_plan_workers_splits_the_cores(monkeypatch):
    monkeypatch.setattr("edgewise.batch.local.physical_cores", lambda: 8)
    monkeypatch.delenv("EDGEWISE_THREADS", raising=False)
    assert plan_workers(None, 2) == (2, 4)
    assert plan_workers(None, 3, 1) == (3, 1)
    workers, threads = plan_workers(None)
    assert 1 <= workers <= 8 and workers * threads <= 8


def _invoke(*args: str):
    return CliRunner().invoke(cli, ["batch", "classify", *args])


def test_an_existing_file_that_is_not_a_batch_output_is_left_alone(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "hello"}\n')
    out = tmp_path / "mine.jsonl"
    out.write_text("precious\n")
    result = _invoke(str(src), "-o", str(out), "-l", "a,b")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "has no checkpoint" in result.output
    assert out.read_text() == "precious\n"


def test_a_different_job_onto_the_same_output_is_refused(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "hello"}\n')
    out = tmp_path / "out.jsonl"
    out.write_text("")
    Checkpoint(tmp_path / "out.jsonl.checkpoint.json").save(fingerprint="another job")
    result = _invoke(str(src), "-o", str(out), "-l", "a,b")
    assert result.exit_code == 1 and "different job" in result.output


@pytest.mark.parametrize(
    "content, message",
    [("", "no records"), (None, "no such file")],
)
def test_bad_input_is_one_line(tmp_path, content, message):
    src = tmp_path / "in.jsonl"
    if content is not None:
        src.write_text(content)
    result = _invoke(str(src), "-o", str(tmp_path / "out.jsonl"), "-l", "a,b")
    assert result.exit_code == 1 and message in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_parquet_needs_ray(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "hello"}\n')
    result = _invoke(str(src), "-o", str(tmp_path / "o"), "-l", "a,b", "--format", "parquet")
    assert result.exit_code == 2 and "--ray" in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_pipe_is_refused_before_it_is_read(tmp_path):
    # the prepass would drain it and the second pass find nothing; opening it would block
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    result = _invoke(str(fifo), "-o", str(tmp_path / "out.jsonl"), "-l", "a,b")
    assert result.exit_code == 1 and "not a regular file (a pipe?)" in result.output
    assert result.output.count("\n") == 1


def test_a_job_without_a_model_runs_the_default_the_driver_chose(monkeypatch):
    # workers (processes, Ray actors on other nodes) must not pick their own default
    monkeypatch.setenv("EDGEWISE_MODEL", "gemma3-270m")
    spec = JobSpec(task="classify", options={"labels": ["a", "b"]})
    assert spec.pinned().model == "gemma3-270m"
    chosen = JobSpec(task="classify", options={"labels": ["a", "b"]}, model="smollm2-135m")
    assert chosen.pinned().model == "smollm2-135m"
