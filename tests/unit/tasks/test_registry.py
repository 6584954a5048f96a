"""The task registry: one declaration of each task that the CLI, batch jobs, bench and the
server all run through (on the FakeEngine)."""

from __future__ import annotations

import inspect
import json

import httpx
import pytest
from click.testing import CliRunner

from edgewise import FakeEngine
from edgewise.batch.job import JobSpec, Processor, Record
from edgewise.cli import common
from edgewise.cli.main import cli
from edgewise.errors import InputError, UnknownTaskError
from edgewise.tasks.classify import Classifier
from edgewise.tasks.extract import Extractor
from edgewise.tasks.registry import (
    Failure,
    Item,
    Task,
    get_task,
    register_task,
    task_names,
)
from edgewise.tasks.summarize import Summarizer
from edgewise.tasks.triage import triage_classifier

RULES = {"labels": {"work": {"folder": "Work"}, "home": {"folder": "Home"}}}
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}
OPTIONS = {
    "classify": {"labels": ["work", "home"]},
    "route": {"rules": RULES},
    "triage": {},
    "extract": {"schema": SCHEMA},
    "summarize": {"type": "headline"},
}


def test_an_unknown_task_names_the_known_ones():
    with pytest.raises(UnknownTaskError) as err:
        get_task("clasify")
    assert err.value.known == task_names() and isinstance(err.value, InputError)
    assert str(err.value).startswith("unknown task 'clasify'; known tasks: classify, route")
    with pytest.raises(ValueError, match="registered twice"):
        register_task(type("Again", (Task,), {"name": "classify"}))
    assert set(task_names(batch=True)) == {"classify", "extract", "summarize", "triage"}


def test_bad_options_are_one_line_input_errors():
    with pytest.raises(InputError, match="^classify options: threshold: Input should be"):
        get_task("classify")({"labels": ["a", "b"], "threshold": 2})
    with pytest.raises(InputError, match="^summarize options: colour: Extra inputs"):
        get_task("summarize")({"colour": "blue"})


@pytest.mark.parametrize("name", list(OPTIONS))
def test_a_failed_item_has_the_keys_of_a_result(name):
    engine = FakeEngine(default_response=json.dumps({"a": "x"}))
    task = get_task(name)(OPTIONS[name]).build(engine)
    items = [Item("ok", "Send the report by Friday", meta={"from": "a@b", "subject": "S"})]
    items.append(Item("bad", "", "line 2: invalid JSON", {"from": "c@d", "subject": "T"}))
    good, bad = task.rows(items)
    assert good["id"] == "ok" and good["error"] is None
    assert bad["id"] == "bad" and bad["error"] == "line 2: invalid JSON"
    assert list(bad) == list(good)
    assert task.failure_row(items[1], "the worker died") == {**bad, "error": "the worker died"}


def test_triage_rows_keep_sender_and_subject_and_empty_emails_fail():
    from edgewise.tasks.mail import Email
    from edgewise.tasks.registry import email_item

    task = get_task("triage")().build(FakeEngine())
    mails = [Email(id="1", sender="a@b", subject="Server down"), Email(id="2", sender="c@d")]
    rows = list(task.rows(map(email_item, mails)))
    assert [(r["id"], r["from"]) for r in rows] == [("1", "a@b"), ("2", "c@d")]
    assert rows[0]["label"] and rows[1]["error"] == "empty email: no subject and no body"


def test_summarize_keeps_the_exception_of_a_failed_item():
    task = get_task("summarize")().build(FakeEngine())
    (result,) = task.run_many([Item("1", "   ")])
    assert isinstance(result, Failure) and isinstance(result.exception, InputError)


def _keywords(fn) -> set[str]:
    return {
        name
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is p.KEYWORD_ONLY or name in ("labels", "schema")
    }


@pytest.mark.parametrize(
    ("name", "library", "not_options"),
    [
        ("classify", Classifier.__init__, {"instruction"}),
        ("triage", triage_classifier, set()),
        ("extract", Extractor.__init__, {"examples"}),
        ("summarize", Summarizer.__init__, set()),
    ],
)
def test_the_options_are_the_library_keywords(name, library, not_options):
    # a keyword added to the library without its option (or the reverse) is caught here
    fields = {f.alias or n for n, f in get_task(name).Options.model_fields.items()}
    fields.discard("abstain_label")  # triage's, used by the rows rather than the classifier
    assert fields == _keywords(library) - not_options


@pytest.mark.parametrize("name", task_names())
def test_every_option_is_on_the_command_line(name):
    from edgewise.cli.options import CLI, _params

    fields = set(get_task(name).Options.model_fields)
    on_cli = {p.field for p in _params(name)}
    set_by_others = {f for f, opt in CLI.get(name, {}).items() if opt.skip}
    assert fields - set_by_others <= on_cli
    params = {p.name for p in cli.commands[name].params}
    assert {p.param for p in _params(name)} <= params
    if name in task_names(batch=True):
        batch = cli.commands["batch"].commands[name]  # type: ignore[attr-defined]
        assert {p.param for p in _params(name)} <= {p.name for p in batch.params}


@pytest.mark.parametrize("name", ["classify", "extract", "summarize", "triage"])
def test_every_option_is_in_the_server_request(name):
    from edgewise.server import tasks_api

    request = getattr(tasks_api, f"{name.capitalize()}Request")
    options = get_task(name).Options.model_fields
    assert set(options) <= set(request.model_fields)
    for field, info in options.items():  # the same help in the OpenAPI as on the CLI
        assert request.model_fields[field].description == info.description


def test_calibration_on_the_cli(monkeypatch):
    made = []
    real = Classifier.__init__

    def spy(self, *args, **kwargs):
        made.append(kwargs)
        real(self, *args, **kwargs)

    monkeypatch.setattr(Classifier, "__init__", spy)
    monkeypatch.setattr(common, "load_engine", lambda model, **kw: FakeEngine())
    args = ["classify", "-l", "a,b", "--calibration", "content_free", "hello"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert made[-1]["calibration"] == "content_free" and made[-1]["calibrate"] is True
    result = CliRunner().invoke(cli, ["classify", "-l", "a,b", "--calibration", "x", "hi"])
    assert result.exit_code == 2 and "'x' is not one of 'domain', 'content_free'" in result.output


def test_the_server_classify_takes_max_input_tokens():
    from edgewise.server.app import BackgroundServer, create_app
    from edgewise.server.settings import ServerSettings

    app = create_app(ServerSettings(), engine=FakeEngine())
    body = {"text": "one two three four five six seven", "labels": ["a", "b"]}
    with BackgroundServer(app) as url:
        whole = httpx.post(url + "/v1/classify", json=body, timeout=30).json()["results"][0]
        body["max_input_tokens"] = 2
        cut = httpx.post(url + "/v1/classify", json=body, timeout=30).json()["results"][0]
        body["max_input_tokens"] = 0
        bad = httpx.post(url + "/v1/classify", json=body, timeout=30)
    assert not whole["truncated"] and cut["truncated"] and cut["input_tokens"] == 2
    assert bad.status_code == 400 and "max_input_tokens" in bad.json()["error"]["message"]


def test_batch_rows_are_the_registry_rows():
    spec = JobSpec(task="summarize", options={"type": "headline"})
    assert spec.options["length"] == "medium"  # defaults filled in: a stable fingerprint
    rows = Processor(spec, FakeEngine()).process([Record("1", "Text."), Record("2", "", "bad")])
    task = get_task("summarize")(spec.options)
    assert rows[0]["error"] is None and list(rows[0]) == list(rows[1])
    assert rows[1] == task.failure_row(Item("2", ""), "bad")
    with pytest.raises(InputError, match="route is not a batch task"):
        JobSpec(task="route", options={"rules": RULES})
    with pytest.raises(UnknownTaskError):
        JobSpec(task="sumarize")
