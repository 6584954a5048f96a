import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgewise
from edgewise import FakeEngine
from edgewise.cli import common
from edgewise.cli.main import cli


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def fake(monkeypatch):
    engine = FakeEngine()
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: engine)
    return engine


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and edgewise.__version__ in result.output


def test_models_lists_catalog_and_status(runner):
    result = runner.invoke(cli, ["models", "--json"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["smollm2-135m"]["status"] == "bundled"
    assert rows["llama3.2-1b"]["status"] == "-"
    assert rows["qwen2.5-3b"]["commercial"] == "no"


def test_models_info(runner):
    result = runner.invoke(cli, ["models", "info", "qwen2.5-0.5b", "--json"])
    data = json.loads(result.output)
    assert data["license"] == "Apache-2.0" and data["context_length"] == 32768
    assert data["files"][0]["source"].startswith("https://huggingface.co/Qwen/")


def test_unknown_model_is_one_line_and_exit_1(runner):
    result = runner.invoke(cli, ["models", "info", "nope"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown model 'nope'")


def test_models_add(runner, tmp_path, gguf_writer):
    path = gguf_writer(tmp_path / "mine.gguf")
    result = runner.invoke(cli, ["models", "add", str(path), "--name", "mine"])
    assert result.exit_code == 0, result.output
    listing = json.loads(runner.invoke(cli, ["models", "--json"]).output)
    assert any(r["name"] == "mine" and r["status"] == "registered" for r in listing)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"\0" * 100)
    result = runner.invoke(cli, ["models", "add", str(bad)])
    assert result.exit_code == 1 and "not a GGUF file" in result.output


def test_run_streams_and_json(runner, fake):
    fake.enqueue("Hello there", "Hi again")
    result = runner.invoke(cli, ["run", "say hi", "--temperature", "0"])
    assert result.exit_code == 0 and result.stdout == "Hello there\n"
    result = runner.invoke(cli, ["run", "--json", "-"], input="from stdin")
    data = json.loads(result.stdout)
    assert data["text"] == "Hi again" and data["usage"]["completion_tokens"] == 2
    assert "from stdin" in fake.calls[-1]["prompt"]
    assert fake.calls[0]["options"].temperature == 0.0


@pytest.mark.parametrize(
    "args,needle,code",
    [
        (["run", "   "], "empty prompt", 1),
        (["run", "x", "--temperature", "-2"], "temperature", 1),
        (["run", "x", "--max-tokens", "0"], "max_tokens", 1),
        (["run", "x", "--bogus"], "No such option", 2),
        (["run", "x", "--schema", "/nonexistent.json"], "cannot read", 1),
    ],
)
def test_run_bad_input(runner, fake, args, needle, code):
    result = runner.invoke(cli, args)
    assert result.exit_code == code
    assert needle in result.output
    assert "Traceback" not in result.output


def test_run_bad_model_file_no_traceback(runner, tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 10)
    result = runner.invoke(cli, ["run", "-m", str(bad), "hi"])
    assert result.exit_code == 1 and result.output.startswith("error: cannot load model")


def test_chat_keeps_history(runner, fake):
    fake.enqueue("Hi Ana!", "Your name is Ana.")
    result = runner.invoke(cli, ["chat"], input="I am Ana\nWhat is my name?\n\n")
    assert result.exit_code == 0
    assert "Hi Ana!" in result.stdout and "Your name is Ana." in result.stdout
    assert "I am Ana" in fake.calls[1]["prompt"] and "Hi Ana!" in fake.calls[1]["prompt"]


def test_chat_drops_oldest_turns_when_the_context_is_full(runner, monkeypatch):
    engine = FakeEngine(n_ctx=12)
    engine.enqueue("one two three", "four five six", "seven")
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: engine)
    result = runner.invoke(cli, ["chat"], input="alpha beta\ngamma delta\nepsilon\n\n")
    assert result.exit_code == 0, result.output
    assert "oldest turn dropped" in result.stderr
    assert "alpha" not in engine.calls[-1]["prompt"] and "epsilon" in engine.calls[-1]["prompt"]


def test_bad_context_size_is_a_usage_error(runner, fake):
    result = runner.invoke(cli, ["run", "--n-ctx", "-5", "hi"])
    assert result.exit_code == 2 and "n-ctx" in result.output


def test_unwritable_jsonl_output_is_a_one_line_error_and_leaves_nothing(tmp_path):
    from edgewise.cli.io import JsonlSink
    from edgewise.errors import InputError

    with pytest.raises(InputError, match="it is a directory"):
        JsonlSink(str(tmp_path))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write"):
        JsonlSink(str(blocker / "out.jsonl"))
    target = tmp_path / "out.jsonl"
    with pytest.raises(InputError, match="cannot write"):
        with JsonlSink(str(target)) as sink:
            sink.write({"a": 1})
            target.mkdir()  # the destination turns into a folder during the run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out.jsonl"]


def test_jsonl_output_writes_through_symlinks_and_streams_to_fifos_and_devices(tmp_path):
    import os
    import threading

    from edgewise.cli.io import JsonlSink
    from edgewise.errors import InputError

    target = tmp_path / "target.jsonl"
    target.write_text("old\n")
    target.chmod(0o600)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target.name)
    with JsonlSink(str(link)) as sink:
        sink.write({"a": 1})
    assert link.is_symlink() and target.read_text() == '{"a": 1}\n'
    assert target.stat().st_mode & 0o777 == 0o600  # the replaced file keeps its permissions

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    with JsonlSink(str(fifo)) as sink:
        sink.write({"b": 2})
    reader.join(timeout=30)
    assert got == ['{"b": 2}\n'] and fifo.is_fifo()

    with JsonlSink(os.devnull) as sink:
        sink.write({"c": 3})
    assert Path(os.devnull).is_char_device()
    if Path("/dev/full").is_char_device():
        with pytest.raises(InputError, match="cannot write /dev/full: No space left"):
            with JsonlSink("/dev/full") as sink:
                sink.write({"d": 4})
        assert Path("/dev/full").is_char_device()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "out.fifo", "target.jsonl"]


def test_text_argument_and_replies_must_be_utf8():
    from edgewise.cli.common import check_utf8, read_text_arg
    from edgewise.errors import InputError

    bad = b"caf\xe9 offer".decode("utf-8", "surrogateescape")  # how Python passes argv
    with pytest.raises(InputError, match="not UTF-8"):
        read_text_arg(bad)
    with pytest.raises(InputError, match="standard input is not UTF-8"):
        check_utf8(bad, "standard input")
    assert read_text_arg("café") == "café"


def test_triage_with_rules_shows_the_abstain_route(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: FakeEngine())
    rules = tmp_path / "rules.toml"
    rules.write_text('[labels.work]\nfolder = "Work"\n[labels.home]\nfolder = "Home"\n')
    inbox = tmp_path / "in.jsonl"
    inbox.write_text(json.dumps({"id": "a", "subject": "Report", "body": "Send it"}) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["triage", str(inbox), "--rules", str(rules), "--jsonl", str(out)]
    result = runner.invoke(cli, [*args, "--threshold", "1.0"])
    assert result.exit_code == 0, result.output
    assert "abstain" in result.output and "1 message (abstain: 1)" in result.output
    assert json.loads(out.read_text())["abstained"] is True
    result = runner.invoke(cli, [*args, "--threshold", "0.0"])
    assert "abstain" not in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_triage_reads_an_inbox_from_a_pipe(runner, tmp_path, monkeypatch):
    # `edgewise triage <(cat inbox.jsonl)`: one pass over the pipe; a bad first line is its
    # own error row and a record with a lone surrogate escape is one too, not a traceback
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: FakeEngine())
    good = [json.dumps({"id": f"m{i}", "subject": f"S{i}", "body": "b"}) for i in range(3)]
    surrogate = json.dumps({"id": "s", "subject": "bad \ud800"})
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as fh:
            fh.write("\ufeff" + "\n".join(["garbage", *good, surrogate]) + "\n")

    threading.Thread(target=write, daemon=True).start()
    result = runner.invoke(cli, ["triage", str(fifo)])
    assert result.exit_code == 3, result.output
    assert "5 messages (ERROR: 2" in result.output and "line 1: invalid JSON" in result.output
    assert "line 5: not valid Unicode" in result.output and "Traceback" not in result.output
    blank = tmp_path / "blank.mbox"
    blank.write_text("\n\n")
    result = runner.invoke(cli, ["triage", str(blank)])
    assert result.exit_code == 1 and result.output == f"error: {blank}: no messages " + (
        "(the file is empty or blank)\n"
    )


def test_progress_line_unknown_total_and_clear(capsys):
    from edgewise.cli.io import ProgressLine

    line = ProgressLine("triage")
    line.enabled = True  # as on a terminal
    line(3, 0)
    err = capsys.readouterr().err
    assert err.startswith("\rtriage 3 done") and "ETA" not in err and "[" not in err
    line.clear()  # erased with spaces, the cursor back at the start
    err = capsys.readouterr().err
    assert err.strip(" \r") == "" and err.count(" ") >= len("triage 3 done")
    line.clear()  # nothing drawn: nothing written
    assert capsys.readouterr().err == ""
    line(5, 10)
    assert "5/10" in capsys.readouterr().err and line.drawn
    line.close()
    assert capsys.readouterr().err.endswith("\n") and not line.drawn
    line(1, 2)  # fewer items than min_items: no line
    assert capsys.readouterr().err == ""


def test_table_cells_are_fitted_by_terminal_columns():
    from edgewise.cli.tasks import _cells, _fit

    def columns(s: str) -> int:
        return sum(map(_cells, s))

    for text in ["会議は明日の午前十時に変更になりました", "Réunion annulée", "x" * 50, "a\nb"]:
        fitted = _fit(text, 20)
        assert columns(fitted) == 20 and "\n" not in fitted
    assert _fit("会議は明日の午前十時に変更になりました", 10) == "会議は明\u2026 "  # 8 + 1 + pad
    assert _fit("short", 8) == "short   "


@pytest.mark.parametrize(
    "command",
    [
        ["classify", "-l", "work,home"],
        ["route", "--rules", "RULES"],
        ["extract", "--schema", "SCHEMA"],
        ["summarize", "--type", "headline"],
    ],
)
def test_error_rows_have_the_same_keys_as_result_rows(runner, tmp_path, monkeypatch, command):
    monkeypatch.setattr(
        common, "load_engine", lambda model, **kw: FakeEngine(default_response='{"a": "x"}')
    )
    rules = tmp_path / "rules.toml"
    rules.write_text('[labels.work]\nfolder = "Work"\n[labels.home]\nfolder = "Home"\n')
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "string"}}}))
    items = tmp_path / "in.jsonl"
    items.write_text(json.dumps({"id": "ok", "text": "Send the report"}) + "\n{broken\n")
    command = [str(rules) if c == "RULES" else str(schema) if c == "SCHEMA" else c for c in command]
    result = runner.invoke(cli, [*command, "--input", str(items)])
    assert result.exit_code == 3, result.output
    good, bad = (json.loads(line) for line in result.stdout.splitlines())
    assert good["error"] is None and bad["error"].startswith("line 2: invalid JSON")
    assert list(bad) == list(good), (list(bad), list(good))


def test_a_binary_file_is_not_summarized(runner, tmp_path):
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.4\n\x00\x01binary")  # valid UTF-8, but not text
    result = runner.invoke(cli, ["summarize", str(pdf)])
    assert result.exit_code == 1 and "is not text (a NUL byte at 9)" in result.output
    result = runner.invoke(cli, ["summarize", "-"], input=b"a\x00b")
    assert result.exit_code == 1 and "standard input is not text" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summarize"], "give a FILE argument"),
        (["classify", "-l", "a,b"], "give a TEXT argument"),
        (["classify", "-l", "a,b", "hi", "--input", "x.jsonl"], "give either TEXT or --input"),
    ],
)
def test_a_missing_argument_is_a_usage_error(runner, args, message):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2 and message in result.output


def test_sigterm_unwinds_and_leaves_no_partial_output(tmp_path):
    import subprocess
    import sys

    script = (
        "import os, signal, sys, time\n"
        "from edgewise.cli.main import _terminate\n"
        "from edgewise.cli.io import JsonlSink\n"
        "signal.signal(signal.SIGTERM, _terminate)\n"
        "with JsonlSink(sys.argv[1]) as sink:\n"
        "    sink.write({'a': 1})\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
    )
    out = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True)
    assert done.returncode == 143 and "terminated" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["classify", "-l", "a,b", "hello"],
        ["route", "--rules", "RULES", "hello"],
        ["extract", "--schema", "SCHEMA", "hello"],
        ["summarize", "TEXT"],
        ["triage", "INBOX"],
    ],
)
def test_a_bad_output_path_fails_before_the_model_loads(runner, tmp_path, monkeypatch, command):
    def no_model(model, **kw):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(common, "load_engine", no_model)
    files = {
        "RULES": ("rules.toml", '[labels.a]\nfolder = "A"\n[labels.b]\nfolder = "B"\n'),
        "SCHEMA": ("schema.json", json.dumps({"type": "object"})),
        "TEXT": ("note.txt", "Some text to summarize."),
        "INBOX": ("inbox.jsonl", json.dumps({"id": "1", "subject": "Hi", "body": "x"}) + "\n"),
    }
    for key, (name, content) in files.items():
        (tmp_path / name).write_text(content)
        command = [str(tmp_path / name) if c == key else c for c in command]
    result = runner.invoke(cli, [*command, "--jsonl", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "it is a directory" in result.output and "model was loaded" not in result.output


def test_arguments_that_are_not_utf8_are_one_line_errors(tmp_path, capsys):
    from edgewise.cli.main import _check_arguments

    named = tmp_path / b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    named.write_text("x")
    _check_arguments(["classify", str(named)])  # an existing file's name may be any bytes
    new = str(tmp_path / b"r\xe9sultat.jsonl".decode("utf-8", "surrogateescape"))
    _check_arguments(["classify", "x", "--jsonl", new])  # so may an output's
    _check_arguments(["classify", "x", f"--jsonl={new}"])
    with pytest.raises(SystemExit) as exit_:
        _check_arguments(["classify", "-l", b"a\xff,b".decode("utf-8", "surrogateescape")])
    assert exit_.value.code == 1
    assert capsys.readouterr().err == "error: the argument 'a\\xff,b' is not UTF-8 text\n"


def test_jsonl_records_that_are_not_unicode_are_reported_and_the_rest_go_on(
    runner, tmp_path, monkeypatch
):
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: FakeEngine())
    items = tmp_path / "in.jsonl"
    items.write_text('{"text": "ok"}\n{"text": "bad \\ud800"}\n{"id": "x\\udc00", "text": "t"}\n')
    result = runner.invoke(cli, ["classify", "-l", "a,b", "--input", str(items)])
    assert result.exit_code == 3, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "line-3"]
    assert rows[0]["error"] is None
    assert rows[1]["error"] == "line 2: not valid Unicode (a lone surrogate, U+D800)"


def test_option_files_read_a_bom_and_name_the_line_of_a_bad_example(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: FakeEngine())
    desc = tmp_path / "desc.json"
    desc.write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": "first", "b": "second"}).encode())
    shots = tmp_path / "shots.jsonl"
    shots.write_bytes(b'\xef\xbb\xbf{"text": "x y", "label": "a"}\n')
    rules = tmp_path / "rules.toml"
    rules.write_bytes(b'\xef\xbb\xbf[labels.a]\nfolder = "A"\n[labels.b]\nfolder = "B"\n')
    ok = ["classify", "-l", "a,b", "--descriptions", str(desc), "--examples", str(shots), "hi"]
    assert runner.invoke(cli, ok).exit_code == 0
    assert runner.invoke(cli, ["route", "--rules", str(rules), "hi"]).exit_code == 0
    shots.write_text('{"text": "x", "label": "a"}\n{"text": "y", "label": "eggs"}\n')
    bad = runner.invoke(cli, ["classify", "-l", "a,b", "--examples", str(shots), "hi"])
    assert bad.exit_code == 1
    assert f"{shots} line 2: label 'eggs' is not one of --labels" in bad.output
    shots.write_text('{"text": "x", "label": "a"}\n')
    multi = runner.invoke(
        cli, ["classify", "-l", "a,b", "--multi-label", "--examples", str(shots), "hi"]
    )
    assert multi.exit_code == 1 and "not used for multi-label" in multi.output


def test_route_and_triage_usage_and_empty_text(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: FakeEngine())
    rules = tmp_path / "rules.toml"
    rules.write_text('[labels.a]\nfolder = "A"\n[labels.b]\nfolder = "B"\n')
    both = runner.invoke(cli, ["triage", "--labels", "a,b", "--rules", str(rules), "x.mbox"])
    assert both.exit_code == 2 and "not both" in both.output
    empty = runner.invoke(cli, ["route", "--rules", str(rules), " "])
    assert empty.exit_code == 1 and "error: empty text" in empty.output
    items = tmp_path / "in.jsonl"
    items.write_text('{"text": "  "}\n{"text": "fine"}\n')
    rows = runner.invoke(cli, ["route", "--rules", str(rules), "--input", str(items)])
    assert rows.exit_code == 3
    bad = json.loads(rows.stdout.splitlines()[0])
    assert bad["error"] == "empty text" and bad["action"] is None and bad["route"] is None


def test_jsonl_to_dev_stdout_appends_to_a_redirected_log_and_writes_into_a_pipe(tmp_path):
    import subprocess
    import sys

    script = (
        "from edgewise.cli.io import JsonlSink\n"
        "with JsonlSink('/dev/stdout') as sink:\n"
        "    sink.write({'row': 1})\n"
    )
    log = tmp_path / "log.txt"
    log.write_text("previous line\n")
    with log.open("a") as out:  # `>> log.txt`
        subprocess.run([sys.executable, "-c", script], stdout=out, check=True)
    assert log.read_text() == 'previous line\n{"row": 1}\n'
    piped = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert piped.stdout == b'{"row": 1}\n'


def test_commands_load_models_only_through_the_one_seam():
    # tests replace cli.common.load_engine; a command that loaded a model another way would
    # escape them (and load real weights in the unit tier)
    import ast

    import edgewise.cli as cli_pkg

    for path in Path(cli_pkg.__file__).parent.glob("*.py"):
        if path.name == "common.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = {a.name for a in node.names}
                assert not (module == "edgewise.engines" and "load" in names), path.name
                assert not (module == "edgewise" and "load" in names), path.name
                assert not module.startswith("edgewise.engines.llamacpp"), path.name
