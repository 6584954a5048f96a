"""classify / route / triage on the real embedded SmolLM2-135M, library and CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgewise
from edgewise import Classifier
from edgewise.cli.main import cli
from edgewise.tasks.triage import LABELS

ROOT = Path(__file__).resolve().parents[3]
INBOX = ROOT / "examples" / "inbox.mbox"


@pytest.fixture(scope="module")
def engine():
    """A SmolLM2-135M loaded for this module, not the session's: the session engine keeps the
    warm KV slots of whatever ran before, and llama.cpp's scores over a reused slot shift with
    them. After a chat request and the extract/summarize/triage routes on the session engine
    (tests/model/server, which runs just before this folder), classify_many and classify
    differed by 0.125 on a label, over the 0.1 that test_batch_matches_one_by_one allows; on a
    fresh engine they differ by 0.06 whatever ran before."""
    eng = edgewise.load("smollm2-135m")
    yield eng
    eng.close()


def test_scores_follow_the_text(engine):
    sentiment = Classifier(engine, ["positive", "negative"])
    love, hate = sentiment.classify_many(
        ["I love this, it is wonderful!", "This is terrible, I hate it."]
    )
    assert love.scores["positive"] > hate.scores["positive"]
    assert hate.label == "negative"
    topics = Classifier(engine, ["weather", "sports", "cooking"])
    rain, bake = topics.classify_many(
        [
            "It will rain heavily tomorrow with strong winds.",
            "Add the flour and bake for 20 minutes.",
        ]
    )
    assert rain.label == "weather" and bake.label == "cooking"
    for r in (love, hate, rain, bake):
        assert sum(r.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_batch_matches_one_by_one(engine):
    clf = Classifier(engine, ["question", "statement", "greeting"])
    texts = ["Where is the station?", "The sky is blue.", "Good morning everyone!", "¿Dónde está?"]
    batch = clf.classify_many(texts)
    single = [clf.classify(t) for t in texts]
    for b, s in zip(batch, single):
        # llama.cpp is not batch-invariant to the last bit; the distributions must agree closely
        for label in clf.labels:
            assert abs(b.scores[label] - s.scores[label]) < 0.1


def test_a_long_text_alone_keeps_its_evidence(engine):
    # domain calibration drawn from this email's own words came out ham 0.51; one text alone
    # is calibrated content-free instead
    email = (
        "Congratulations! You have been selected to WIN a FREE cruise to the Bahamas and a $1000 "
        "gift card. Click the link now to claim your prize before it expires. Limited offer, act "
        "fast, reply with your bank details to receive your reward today. Winners are announced "
        "every hour, do not miss out!"
    )
    assert len(email.split()) >= 40
    alone = Classifier(engine, ["spam", "ham"]).classify(email)
    content_free = Classifier(engine, ["spam", "ham"], calibration="content_free").classify(email)
    assert alone.scores == pytest.approx(content_free.scores, abs=1e-3)
    assert alone.label == "spam"


def test_a_label_is_scored_as_the_whole_answer(engine):
    # "spam" is two tokens here ("sp" "am"); the end-of-turn token after each label makes the
    # score that of the complete answer, not of a word the label merely starts
    assert len(engine.tokenize("spam")) == 2
    end = engine.tokenize("<|im_end|>", special=True)
    assert len(end) == 1
    clf = Classifier(engine, ["ham", "spam"])
    assert all(c[-1:] == end for c in clf._conts)
    score = engine.score_batch(clf._prefix, [engine.tokenize("Hi") + clf._suffix], clf._conts)
    assert [s.text for s in score[0]] == ["ham", "spam"]  # the end token is not text
    assert all(len(s.token_logprobs) == len(c) for s, c in zip(score[0], clf._conts))


def test_multi_token_labels_and_calibration(engine):
    assert len(engine.tokenize("needs_human")) > 1
    raw = Classifier(engine, LABELS, calibrate=False)
    cal = Classifier(engine, LABELS)
    texts = [
        "Subject: Server down\n\nProduction is failing, fix it now!",
        "Subject: Newsletter\n\nThis week's top stories. Unsubscribe here.",
        "Subject: Please send the report\n\nCould you send me the report by Friday?",
        "Subject: Can we talk?\n\nI need your advice on something personal.",
    ]
    cal_labels = {r.label for r in cal.classify_many(texts)}
    raw_probs = raw.classify_many(texts)
    assert cal._prior is not None and sum(cal._prior) == pytest.approx(1.0, abs=1e-4)
    # calibration spreads the decisions over more than one label
    assert len(cal_labels) >= 2
    assert all(r.label in LABELS for r in raw_probs)


def test_multi_label_on_the_model(engine):
    clf = Classifier(engine, ["food", "travel"], multi_label=True)
    res = clf.classify("We flew to Rome and ate pizza and pasta every day.")
    assert set(res.labels) <= {"food", "travel"}
    assert all(0.0 <= p <= 1.0 for p in res.scores.values())


def test_triage_cli_on_the_shipped_inbox(tmp_path):
    out = tmp_path / "triage.jsonl"
    result = CliRunner().invoke(cli, ["triage", str(INBOX), "--jsonl", str(out)])
    # one malformed entry: reported, the rest processed, exit status 3 says so
    assert result.exit_code == 3, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 26
    assert sum(r["error"] is not None for r in rows) == 1
    good = [r for r in rows if r["error"] is None]
    assert all(r["label"] in LABELS and 0 < r["confidence"] <= 1 for r in good)
    assert {"id", "from", "subject", "label", "confidence", "ms"} <= rows[0].keys()
    assert "Production database is down" in result.stdout and "ERROR" in result.stdout
    assert "could not be processed" in result.output


def test_classify_cli_jsonl_with_a_bad_record(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "text": "It is raining and cold today."})
        + "\n{broken\n"
        + json.dumps({"id": "c", "body": "no text field"})
        + "\n"
        + json.dumps({"id": "d", "text": "The match ended in a draw."})
        + "\n"
    )
    dst = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli,
        ["classify", "--labels", "weather,sports", "--input", str(src), "--jsonl", str(dst)],
    )
    assert result.exit_code == 3, result.output
    rows = {r["id"]: r for r in map(json.loads, dst.read_text().splitlines())}
    assert rows["a"]["label"] in ("weather", "sports") and rows["a"]["ms"] > 0
    assert rows["d"]["label"] in ("weather", "sports")
    assert rows["line-2"]["error"] and rows["c"]["error"]


def test_classify_cli_single_text_and_bad_options(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["classify", "-l", "weather,sports", "Sunny with clouds."])
    assert ok.exit_code == 0, ok.output
    label, conf = ok.stdout.strip().split("\t")
    assert label in ("weather", "sports") and 0 < float(conf) <= 1
    bad = runner.invoke(cli, ["classify", "-l", "weather", "text"])
    assert bad.exit_code == 1 and bad.output.startswith("error: give at least two labels")
    empty = runner.invoke(cli, ["classify", "-l", "a,b", "  "])
    assert empty.exit_code == 1 and "empty text" in empty.output


def test_route_cli(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "threshold = 0.3\n[labels.weather]\nfolder = 'Weather'\nwebhook = 'wx'\n"
        "[labels.sports]\nfolder = 'Sports'\n[abstain]\nfolder = 'Review'\n"
    )
    result = CliRunner().invoke(
        cli, ["route", "--rules", str(rules), "Heavy snow expected tonight."]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["route"] in ("weather", "sports", "abstain")
    assert row["action"]["folder"] in ("Weather", "Sports", "Review")
    bad = tmp_path / "bad.toml"
    bad.write_text("[labels.a]\nfolder = 1\n")
    result = CliRunner().invoke(cli, ["route", "--rules", str(bad), "x"])
    assert result.exit_code == 1 and result.output.count("\n") == 1


def test_a_classifier_prompt_is_kept_on_disk_for_the_next_process(tmp_path, monkeypatch):
    """A new engine (as in a new process) loads the evaluated prompt from the prefix store
    instead of evaluating it, and scores exactly as an engine that evaluated it; a damaged
    file is evaluated again and replaced; EDGEWISE_PREFIX_CACHE=0 keeps nothing."""
    import edgewise
    from edgewise.tasks.triage import DESCRIPTIONS, EXAMPLES

    monkeypatch.setenv("EDGEWISE_PREFIX_CACHE", "1")
    store = Path(os.environ["EDGEWISE_HOME"]) / "cache" / "prefixes"
    texts = ["The production database is down and customers cannot pay.", "Lunch on Friday?"]

    def run() -> tuple[list[dict[str, float]], dict[str, int], int]:
        eng = edgewise.load("smollm2-135m", n_ctx=1024)
        try:
            clf = Classifier(
                eng, LABELS, descriptions=DESCRIPTIONS, examples=EXAMPLES, calibrate=False
            )
            scores = [r.scores for r in clf.classify_many(texts)]
            return scores, dict(eng.stats), clf.prefix_tokens
        finally:
            eng.close()

    first, stats, n_prefix = run()
    assert stats["disk_tokens"] == 0
    (path,) = store.glob("*.kv")
    again, stats, _ = run()
    assert stats["disk_tokens"] == n_prefix and again == first

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    repaired, stats, _ = run()
    assert stats["disk_tokens"] == 0 and repaired == first
    assert path.read_bytes() != bytes(data)  # replaced by a good copy

    monkeypatch.setenv("EDGEWISE_PREFIX_CACHE", "0")
    path.unlink()
    off, stats, _ = run()
    assert off == first and stats["disk_tokens"] == 0 and not list(store.glob("*.kv"))
