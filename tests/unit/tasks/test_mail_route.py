"""Inbox parsing (mbox, .eml directory, JSONL), rules files and triage on the FakeEngine."""

from __future__ import annotations

import json
import os
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest

from edgewise import FakeEngine, Router, triage
from edgewise.errors import InputError
from edgewise.tasks.mail import Email, count_inbox, html_to_text, read_inbox
from edgewise.tasks.route import load_rules

ROOT = Path(__file__).resolve().parents[3]
INBOX = ROOT / "examples" / "inbox.mbox"


def test_shipped_inbox_parses_every_kind_of_message():
    mails = list(read_inbox(INBOX))
    assert len(mails) >= 25
    by_id = {m.id: m for m in mails}
    bad = [m for m in mails if m.error]
    assert len(bad) == 1 and "malformed" in bad[0].error  # the one broken entry
    # quoted-printable Spanish, base64 French, latin-1 with RFC 2047 headers
    assert "contraseñas" in by_id["inbox-06@edgewise.example"].body
    assert "contrat signé" in by_id["inbox-07@edgewise.example"].body
    rene = by_id["inbox-26@edgewise.example"]
    assert rene.subject == "Réunion annulée demain" and rene.sender.startswith("René François")
    # HTML-only: text without tags, scripts or styles
    digest = by_id["inbox-12@edgewise.example"].body
    assert "12 searches" in digest and "<" not in digest and "track()" not in digest
    # the attachment is named, its bytes are not in the body
    budget = by_id["inbox-03@edgewise.example"]
    assert budget.attachments == ["q3-budget.xlsx"] and "PK" not in budget.body
    assert "Attachments: q3-budget.xlsx" in budget.as_text()


def test_eml_directory_and_jsonl(tmp_path):
    d = tmp_path / "mails"
    d.mkdir()
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.com", "Hello"
    msg.set_content("Body text")
    (d / "one.eml").write_bytes(msg.as_bytes())
    (d / "two.eml").write_bytes(b"\xff\xfe garbage")
    mails = list(read_inbox(d))
    assert [m.id for m in mails] == ["one", "two"]
    assert mails[0].subject == "Hello" and mails[0].body == "Body text"
    assert mails[1].error

    jl = tmp_path / "in.jsonl"
    jl.write_text(
        json.dumps({"id": "x", "subject": "S", "from": "f@x", "body": "B"})
        + "\n{oops\n\n"
        + json.dumps({"subject": "no id"})
        + "\n"
    )
    mails = list(read_inbox(jl))
    assert [m.id for m in mails] == ["x", "line-2", "line-4"]
    assert mails[0].sender == "f@x" and mails[1].error and "invalid JSON" in mails[1].error
    # the progress bar's total: what read_inbox yields, without parsing
    assert (count_inbox(d), count_inbox(jl), count_inbox(d / "one.eml")) == (2, 3, 1)
    assert count_inbox(INBOX) == len(list(read_inbox(INBOX)))
    assert count_inbox(tmp_path / "missing") is None


@pytest.mark.parametrize("content", [None, b""])
def test_missing_or_empty_inbox_is_a_clear_error(tmp_path, content):
    path = tmp_path / "inbox.mbox"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError):
        list(read_inbox(path))


def test_html_to_text_keeps_structure():
    text = html_to_text(
        "<p>Hi&amp;bye</p><ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table>"
    )
    assert "Hi&bye" in text and "- one" in text and "a b" in text


RULES = """
threshold = 0.4
[labels.urgent]
description = "act today"
folder = "Urgent"
priority = "high"
webhook = "pager"
[labels.later]
folder = "Later"
[abstain]
folder = "Review"
[[examples]]
text = "server down"
label = "urgent"
"""


def test_rules_toml_and_yaml(tmp_path):
    toml = tmp_path / "rules.toml"
    toml.write_text(RULES)
    rules = load_rules(toml)
    assert rules.labels["urgent"].webhook == "pager" and rules.abstain.folder == "Review"
    yml = tmp_path / "rules.yaml"
    yml.write_text("labels:\n  a: {folder: A}\n  b: {folder: B}\nthreshold: 0.9\n")
    assert load_rules(yml).threshold == 0.9


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("r.toml", "labels = 3", "labels"),
        ("r.toml", "[labels.a]\nfolder = 'x'\ncolour = 'red'", "colour"),
        ("r.toml", "threshold = 2\n[labels.a]\n[labels.b]", "threshold"),
        ("r.toml", "[labels", "not valid"),
        ("r.toml", "[labels.a]\nfolder = 'x'", "labels: give at least two labels \\(found 1\\)"),
        ("r.yaml", "labels:\n  a: {folder: A}\n  2024-01-01: {folder: Old}\n", "valid string"),
        ("r.yaml", 'labels:\n  a: {folder: "\\ud800"}\n  b: {folder: B}\n', "not valid Unicode"),
    ],
)
def test_bad_rules_are_one_line_errors(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        load_rules(path)
    assert "\n" not in str(info.value)


def test_router_takes_rules_as_a_mapping_and_refuses_other_types():
    rules = {"labels": {"work": {"folder": "Work"}, "home": {"folder": "Home"}}}
    router = Router(rules, FakeEngine())
    assert router.route("send the report").action.folder in ("Work", "Home")
    with pytest.raises(InputError, match="rules: labels: give at least two labels"):
        Router({"labels": {"work": {}}}, FakeEngine())
    with pytest.raises(InputError, match="a Rules object, a mapping or a file path"):
        Router(["work", "home"], FakeEngine())  # type: ignore[arg-type]


def test_router_maps_labels_and_abstention(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(RULES)

    def scorer(prompt: str, cont: str) -> float:
        item = prompt.rsplit("Text:", 1)[-1]
        if "fire" in item:
            return -0.1 if cont == "urgent" else -4.0
        return -1.0  # no preference: calibrated to 50/50, so a 0.9 threshold abstains

    router = Router(path, FakeEngine(scorer=scorer))
    fire, meh = router.route_many(["fire in the building", "hmm"])
    assert (
        fire.route == "urgent" and fire.action.folder == "Urgent" and fire.action.webhook == "pager"
    )
    strict = Router(
        load_rules(path).model_copy(update={"threshold": 0.9}), FakeEngine(scorer=scorer)
    )
    assert strict.route("hmm").route == "abstain" and strict.route("hmm").action.folder == "Review"


def test_triage_streams_in_order_and_reports_the_broken_message():
    results = list(triage(INBOX, engine=FakeEngine()))
    assert len(results) == len(list(read_inbox(INBOX)))
    errors = [r for r in results if r.error]
    assert len(errors) == 1 and errors[0].label is None
    assert all(
        r.label in ("urgent", "task", "notification", "needs_human") for r in results if not r.error
    )
    dumped = results[0].model_dump(by_alias=True)
    assert "from" in dumped and "sender" not in dumped


@pytest.mark.parametrize(
    ("inbox", "kind"), [(None, "NoneType"), (5, "int"), (["a text"], "str items"), (b"x", "bytes")]
)
def test_triage_refuses_what_is_not_an_inbox_or_emails(inbox, kind):
    with pytest.raises(InputError, match=f"triage takes an inbox .*Email objects, not {kind}"):
        list(triage(inbox, engine=FakeEngine()))


def test_triage_takes_email_objects():
    mails = [Email(id="1", subject="Server down"), Email(id="2", body="Lunch?")]
    assert [r.id for r in triage(iter(mails), engine=FakeEngine())] == ["1", "2"]


def test_triage_reports_progress_within_each_batch():
    from edgewise.tasks.triage import triage_classifier, triage_emails

    calls: list[tuple[int, int]] = []
    mails = list(read_inbox(INBOX))
    classifier = triage_classifier(FakeEngine())
    results = list(triage_emails(mails, classifier, progress=lambda *a: calls.append(a)))
    assert len(results) == len(mails)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == len(mails) and len(calls) >= 2
    assert {t for _, t in calls} == {0}  # no total given: not known
    calls.clear()
    list(triage_emails(mails, classifier, progress=lambda *a: calls.append(a), total=len(mails)))
    assert {t for _, t in calls} == {len(mails)}


def test_a_folded_header_is_unfolded_and_its_inner_spaces_kept(tmp_path):
    d = tmp_path / "mails"
    d.mkdir()
    (d / "pad.eml").write_bytes(
        b"From: a@example.com\r\nSubject: Cheap meds          XKQZ7\r\n\tand more\r\n\r\nbody\r\n"
    )
    (mail,) = read_inbox(d)
    assert mail.subject == "Cheap meds          XKQZ7 and more"


def test_jsonl_records_without_text_or_with_wrong_types_are_reported(tmp_path):
    jl = tmp_path / "in.jsonl"
    records = [
        {"id": "ok", "subject": "Server down", "from": None},
        {"id": "wrong-field", "message": "Server is down"},
        {"id": "list", "subject": "Hi", "from": ["x"]},
        {"id": "empty", "subject": "", "from": "", "body": ""},
    ]
    jl.write_text("".join(json.dumps(r) + "\n" for r in records))
    mails = {m.id: m for m in read_inbox(jl)}
    assert mails["ok"].error is None and mails["ok"].sender == ""
    assert "no 'subject' or 'body' field" in mails["wrong-field"].error
    assert "'from' must be a string" in mails["list"].error
    results = {r.id: r for r in triage(jl, engine=FakeEngine())}
    assert results["ok"].label and results["ok"].error is None
    assert results["empty"].label is None and "empty email" in results["empty"].error
    assert results["wrong-field"].label is None


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("rules.txt", "labels: urgent", "not valid TOML (rules are .toml, .yaml or .json): "),
        ("rules.yaml", "labels:\n  a: [x\n", "not valid YAML: line 3, column 1: "),
        ("rules.toml", "[labels", "not valid TOML: "),
        ("rules.json", "{", "not valid JSON: "),
        ("rules.toml", b"\xff\xfe", "not valid TOML: not UTF-8 text"),
    ],
)
def test_a_rules_file_that_does_not_parse_names_its_format(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError) as info:
        load_rules(path)
    assert str(info.value).startswith(f"{path}: {expected}") and "\n" not in str(info.value)


# ------------------------------------------------------------------ inbox format and pipes
GOOD = b"".join(
    json.dumps({"id": f"m{i}", "subject": f"Subject {i}", "from": "a@x", "body": "hi"}).encode()
    + b"\n"
    for i in range(3)
)
BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    ("name", "data", "ids"),
    [
        # a bad first line is its own error row: the extension says JSONL, not one message
        ("in.jsonl", b"garbage line\n" + GOOD, ["line-1", "m0", "m1", "m2"]),
        ("in.jsonl", b"From a@x Mon Jan  1 00:00:00 2024\n" + GOOD, ["line-1", "m0", "m1", "m2"]),
        ("in.jsonl", b"\n\n \r\n\t\n\n\n" + GOOD, ["m0", "m1", "m2"]),
        ("in.jsonl", BOM + GOOD, ["m0", "m1", "m2"]),
        ("in.jsonl", BOM + b"\n\n" + GOOD, ["m0", "m1", "m2"]),
        # other names are recognised by the first text after a BOM and blank lines
        ("in.txt", BOM + b"\n  \n" + GOOD, ["m0", "m1", "m2"]),
        ("inbox", b"\r\n" + GOOD, ["m0", "m1", "m2"]),
    ],
)
def test_jsonl_is_read_by_extension_and_tolerates_bom_and_blank_lines(tmp_path, name, data, ids):
    path = tmp_path / name
    path.write_bytes(data)
    mails = list(read_inbox(path))
    assert [m.id for m in mails] == ids
    assert [m.subject for m in mails if m.error is None] == ["Subject 0", "Subject 1", "Subject 2"]
    if ids[0] == "line-1":
        assert mails[0].error.startswith("line 1: invalid JSON")
    assert count_inbox(path) == len(mails)


def test_jsonl_line_numbers_count_the_skipped_blank_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(BOM + b"\n\n" + GOOD + b"{oops\n")
    *_, bad = read_inbox(path)
    assert bad.id == "line-6" and bad.error.startswith("line 6: invalid JSON")


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("lead.mbox", b"\n"),
        ("lead.mbox", b"\r\n\n  \n"),
        ("bom.mbox", BOM),
        ("bom-and-blank", BOM + b"\n\n"),  # no extension: sniffed past the BOM and blanks
        ("spaced.txt", b"\n   "),
    ],
)
def test_mbox_tolerates_a_bom_and_leading_blank_lines(tmp_path, name, prefix):
    path = tmp_path / name
    path.write_bytes(prefix + INBOX.read_bytes())
    mails = list(read_inbox(path))
    stem = path.stem
    expected = [m.model_dump() for m in read_inbox(INBOX)]
    for m in expected:  # messages without a Message-ID are named after the file
        m["id"] = m["id"].replace("inbox-", f"{stem}-") if "@" not in m["id"] else m["id"]
    assert [m.model_dump() for m in mails] == expected
    assert count_inbox(path) == len(mails)


def test_text_before_the_first_from_line_of_an_mbox_is_reported(tmp_path):
    path = tmp_path / "in.mbox"
    path.write_bytes(b"junk\nmore junk\n" + INBOX.read_bytes())
    mails = list(read_inbox(path))
    assert mails[0].id == "in-0" and mails[0].error.startswith("line 1: not an mbox message")
    assert len(mails) == 1 + len(list(read_inbox(INBOX))) == count_inbox(path)


@pytest.mark.parametrize("name", ["in.jsonl", "in.mbox", "in.txt", "inbox"])
@pytest.mark.parametrize("data", [b"", b"\n\n\n", b" \r\n\t\n", BOM, BOM + b"\n\n"])
def test_an_empty_or_blank_inbox_has_no_messages(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match="no messages"):
        list(read_inbox(path))
    assert count_inbox(path) == 0


def test_a_single_eml_with_a_bom_and_blank_lines_is_one_message(tmp_path):
    d = tmp_path / "mails"
    d.mkdir()
    (d / "one.eml").write_bytes(BOM + b"\r\n\nFrom: a@x\nSubject: Hi\n\nBody\n")
    (mail,) = read_inbox(d)
    assert (mail.subject, mail.body, mail.error) == ("Hi", "Body", None)
    (mail,) = read_inbox(d / "one.eml")
    assert (mail.id, mail.subject, mail.error) == ("one", "Hi", None)


def _fifo(path: Path, data: bytes) -> Path:
    """A named pipe that a thread fills once it is opened, as ``<(cat inbox)`` would be."""

    def write() -> None:
        with open(path, "wb") as fh:
            fh.write(data)

    os.mkfifo(path)
    threading.Thread(target=write, daemon=True).start()
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize(
    ("data", "n"),
    [
        (INBOX.read_bytes(), 26),  # mbox: no seeking
        (GOOD, 3),  # JSONL: the bytes read to sniff the format are not lost
        (BOM + b"\n" + GOOD, 3),
        (b"From: a@x\nSubject: Hi\n\nBody\n", 1),
    ],
)
def test_an_inbox_from_a_pipe_is_read_once(tmp_path, data, n):
    path = _fifo(tmp_path / "63", data)
    assert count_inbox(path) is None  # counting would consume (or block on) the pipe
    mails = list(read_inbox(path))
    assert len(mails) == n and sum(m.error is None for m in mails) >= n - 1


@pytest.mark.parametrize("field", ["id", "subject", "from", "body", "date", "text", "sender"])
def test_a_lone_surrogate_in_a_jsonl_record_is_an_error_row(tmp_path, field):
    path = tmp_path / "in.jsonl"
    bad = {"id": "s1", "subject": "ok", field: "bad \ud800 here"}
    records = [json.dumps(bad), json.dumps({"id": "s2", "subject": "fine \ud83d\ude00"})]
    path.write_text("\n".join(records) + "\n")  # json.dumps escapes: valid JSON, valid UTF-8
    first, second = read_inbox(path)
    assert first.error == "line 1: not valid Unicode (lone surrogate)"
    assert first.id == ("line-1" if field == "id" else "s1")
    assert second.error is None and second.subject == "fine \U0001f600"
    results = list(triage(path, engine=FakeEngine()))  # no UnicodeEncodeError downstream
    assert [r.error is None for r in results] == [False, True]


def test_undecodable_file_names_become_replacement_characters(tmp_path):
    d = tmp_path / "mails"
    d.mkdir()
    try:
        (Path(os.fsdecode(os.fsencode(d) + b"/\xff.eml"))).write_bytes(b"From: a@x\n\nhi\n")
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses the name")
    (mail,) = read_inbox(d)
    assert mail.id == "\ufffd" and mail.id.encode()
