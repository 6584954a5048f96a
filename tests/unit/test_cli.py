import json
import os
import threading

import pytest
from click.testing import CliRunner

import edgewise
from edgewise import FakeEngine
from edgewise.cli import run as run_cmd
from edgewise.cli.main import cli


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def fake(monkeypatch):
    engine = FakeEngine()
    monkeypatch.setattr(run_cmd, "_load", lambda model, n_ctx=None: engine)
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
    monkeypatch.setattr(run_cmd, "_load", lambda model, n_ctx=None: engine)
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
    from edgewise.cli import tasks

    monkeypatch.setattr(tasks, "_engine", lambda model: FakeEngine())
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
    from edgewise.cli import tasks

    monkeypatch.setattr(tasks, "_engine", lambda model: FakeEngine())
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
    from edgewise.cli import tasks

    monkeypatch.setattr(tasks, "_engine", lambda model: FakeEngine(default_response='{"a": "x"}'))
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
