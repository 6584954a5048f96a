"""Profiles: real SQLite files, real processes writing at once, a real kill -9 mid-write."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgewise.cli.main import cli
from edgewise.errors import CorruptProfileError, InputError, ProfileNotFoundError
from edgewise.personal.profile import (
    MAX_TEXT_CHARS,
    SCHEMA_VERSION,
    Profile,
    delete_profile,
    list_profiles,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_list_show_export_delete(tmp_path):
    with Profile.create("alice", labels=["spam", "ham"]) as p:
        assert p.path.parent.name == "profiles" and p.path.name == "alice.sqlite"
        p.correct("win a prize now", "spam")
        p.correct_many([("lunch at noon?", "ham"), ("cheap pills", "spam")])
        p.add_writing(["Hi Bob,\nsee you soon.\nCheers, Alice"])
        p.add_items(
            [{"id": "a1", "text": "A story about sailing", "year": 2020}, "plain text item"]
        )
        p.like("a1")
        info = p.info()
        assert info["corrections"] == 3 and info["corrections_per_label"] == {"spam": 2, "ham": 1}
        assert info["writing_samples"] == 1 and info["items"] == 2 and info["liked"] == 1
        assert info["schema_version"] == SCHEMA_VERSION and info["labels"] == ["spam", "ham"]
        data = p.export()
        assert [f["label"] for f in data["feedback"]] == ["spam", "ham", "spam"]
        assert data["items"][0] == {
            "id": "a1",
            "text": "A story about sailing",
            "meta": {"year": 2020},
            "rating": 1,
        }
        assert json.loads(json.dumps(data)) == data
        # the file and SQLite's companions are private to the user
        assert _mode(p.path) == 0o600
        for extra in ("-wal", "-shm"):
            companion = Path(str(p.path) + extra)
            assert companion.exists() and _mode(companion) == 0o600
    assert list_profiles() == ["alice"]
    with pytest.raises(InputError, match="already exists"):
        Profile.create("alice")
    delete_profile("alice")
    assert list_profiles() == []
    assert not list((Path(os.environ["EDGEWISE_HOME"]) / "profiles").iterdir())
    with pytest.raises(ProfileNotFoundError, match="edgewise profile create alice"):
        Profile.open("alice")


def test_bad_input_is_a_clear_error():
    with pytest.raises(InputError, match="invalid profile name"):
        Profile.create("../etc")
    p = Profile.create("bob", labels=["spam", "ham"])
    with pytest.raises(InputError, match="not in the label set of profile 'bob'"):
        p.correct("hello", "urgent")
    with pytest.raises(InputError, match="empty"):
        p.correct("   ", "spam")
    with pytest.raises(InputError, match="limit is"):
        p.correct("x" * (MAX_TEXT_CHARS + 1), "spam")
    with pytest.raises(InputError, match="no item"):
        p.like("nope")
    # a bad record in a batch writes nothing (one transaction)
    with pytest.raises(InputError):
        p.correct_many([("fine", "ham"), ("", "spam")])
    assert p.feedback() == []
    with pytest.raises(ProfileNotFoundError, match="known profiles: bob"):
        Profile.open("carol")
    p.close()


def test_corrupt_file_is_named_and_left_alone():
    with Profile.create("dave") as p:
        path = p.path
    path.write_bytes(b"this is not a database at all" * 50)
    with pytest.raises(CorruptProfileError, match=str(path)):
        Profile.open("dave")
    assert path.read_bytes().startswith(b"this is not")  # never recreated over the user's data
    # a valid SQLite file with foreign tables is not silently adopted either
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(CorruptProfileError, match="no edgewise schema"):
        Profile.open("dave")
    # a file from a newer edgewise
    path.unlink()
    Profile.create("dave").close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(CorruptProfileError, match="newer"):
        Profile.open("dave")


def test_embeddings_are_cached_in_the_profile():
    class Counting:
        name, dim = "count-test", 3

        def __init__(self) -> None:
            self.seen: list[str] = []

        def embed(self, texts):
            self.seen += list(texts)
            return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    emb = Counting()
    with Profile.create("erin") as p:
        v1 = p.embeddings(["ab", "abc", "ab"], emb)
        assert emb.seen == ["ab", "abc"] and v1.shape == (3, 3) and v1[0, 0] == 2
    with Profile.open("erin") as p:
        v2 = p.embeddings(["abc", "ab"], emb)
        assert emb.seen == ["ab", "abc"]  # from the file, not recomputed
        assert np.array_equal(v2, v1[[1, 0]])
        assert p.export()["embeddings"][0]["dim"] == 3


def _writer(home: str, tag: str, n: int) -> None:
    os.environ["EDGEWISE_HOME"] = home
    with Profile.open("shared") as p:
        for i in range(n):
            p.correct(f"{tag} message {i}", tag)
            if i % 10 == 0:
                p.add_items([{"id": f"{tag}-{i}", "text": f"item {i}"}])


def test_two_processes_writing_at_once_do_not_corrupt():
    Profile.create("shared").close()
    home = os.environ["EDGEWISE_HOME"]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(home, tag, 60)) for tag in ("a", "b", "c")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with Profile.open("shared") as p:
        assert p.integrity() == "ok"
        rows = p.feedback()
        assert len(rows) == 180
        for tag in "abc":
            assert sorted(int(f.text.split()[-1]) for f in rows if f.label == tag) == list(
                range(60)
            )
        assert len(p.items()) == 18


CRASH_WRITER = """
import os, sys
os.environ["EDGEWISE_HOME"] = sys.argv[1]
from edgewise.personal.profile import Profile
p = Profile.open("crash")
i = 0
while True:
    p.correct_many([(f"row {i} part {k}", "x") for k in range(20)])
    print(i, flush=True)
    i += 1
"""


def test_kill_9_mid_write_loses_nothing_committed(tmp_path):
    Profile.create("crash").close()
    script = tmp_path / "writer.py"
    script.write_text(CRASH_WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(script), os.environ["EDGEWISE_HOME"]],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    committed = -1
    deadline = time.monotonic() + 30
    while committed < 25 and time.monotonic() < deadline:
        committed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)  # most likely in the middle of the next transaction
    proc.wait()
    proc.stdout.close()
    with Profile.open("crash") as p:
        assert p.integrity() == "ok"
        rows = p.feedback()
        done = {int(f.text.split()[1]) for f in rows}
        # every batch it reported committed is there, whole; a batch is all or nothing
        assert set(range(committed + 1)) <= done
        assert len(rows) == 20 * len(done)


def test_schema_migration_from_an_empty_version_0_file():
    path = Path(os.environ["EDGEWISE_HOME"]) / "profiles"
    path.mkdir(parents=True)
    (path / "old.sqlite").write_bytes(b"")  # an empty file is an empty SQLite database
    with Profile.open("old") as p:
        assert p.info()["schema_version"] == SCHEMA_VERSION
        p.correct("t", "x")


def test_cli_profile_commands(tmp_path):
    run = CliRunner().invoke
    r = run(cli, ["profile", "create", "zoe", "--labels", "spam,ham"])
    assert r.exit_code == 0, r.output
    r = run(cli, ["feedback", "--profile", "zoe", "--label", "spam", "Buy cheap watches"])
    assert r.exit_code == 0 and "has 1" in r.output
    src = tmp_path / "fb.jsonl"
    src.write_text(
        '{"text": "see you at 5", "label": "ham"}\n{"text": "free money", "label": "spam"}\n'
    )
    r = run(cli, ["feedback", "--profile", "zoe", "--input", str(src)])
    assert r.exit_code == 0 and "has 3" in r.output
    r = run(cli, ["feedback", "--profile", "zoe", "--label", "urgent", "hello"])
    assert r.exit_code == 1 and "not in the label set of profile 'zoe'" in r.output
    r = run(cli, ["feedback", "--profile", "nobody", "--label", "x", "hello"])
    assert r.exit_code == 1 and "no profile 'nobody'" in r.output
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "i1", "text": "sailing"}\n{"id": "i2", "text": "cooking"}\n')
    assert run(cli, ["profile", "add-items", "-p", "zoe", str(items)]).exit_code == 0
    assert run(cli, ["profile", "like", "-p", "zoe", "i1"]).exit_code == 0
    r = run(cli, ["profile", "dislike", "-p", "zoe", "i9"])
    assert r.exit_code == 1 and "no item 'i9'" in r.output
    r = run(cli, ["profile", "list"])
    assert r.output.split() == ["zoe"]
    r = run(cli, ["profile", "show", "zoe", "--check"])
    info = json.loads(r.output)
    assert info["corrections"] == 3 and info["liked"] == 1 and info["integrity"] == "ok"
    out = tmp_path / "zoe.json"
    r = run(cli, ["profile", "export", "zoe", "-o", str(out)])
    assert r.exit_code == 0 and len(json.loads(out.read_text())["feedback"]) == 3
    r = run(cli, ["profile", "delete", "zoe", "--yes"])
    assert r.exit_code == 0 and run(cli, ["profile", "list"]).output == ""
    r = run(cli, ["profile", "show", "zoe"])
    assert r.exit_code == 1 and "no profile 'zoe'" in r.output
