"""Personalization on the real models: MiniLM embeddings (ONNX int8) and the bundled SmolLM2."""

from __future__ import annotations

import socket

import numpy as np
import pytest

import edgewise
from edgewise.errors import InputError
from edgewise.personal.embed import CharNgrams, default_embedder
from edgewise.personal.learn import PersonalClassifier
from edgewise.personal.profile import Profile

LABELS = ["work", "personal"]
# The user files anything about the chess club under one label, whatever the model thinks.
TAUGHT = [
    "Chess club meets Thursday at 7, bring your board",
    "Reminder: chess club tournament sign-up closes Friday",
    "Chess club: the Thursday session moves to room 4",
    "New chess club members welcome this Thursday",
]
HELD_OUT = [
    "Chess club Thursday: bring your own board please",
    "Sign-up for the chess club tournament closes on Friday",
]


@pytest.fixture(scope="module")
def embedder():
    return default_embedder()


def test_minilm_vectors_are_normalized_and_semantic(embedder):
    vecs = embedder.embed(
        ["How do I reset my password?", "I forgot my password, help", "The weather is lovely"]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > 0.6 > sims[0, 2] + 0.3
    # batching and order do not change a vector
    alone = embedder.embed(["The weather is lovely"])[0]
    assert float(alone @ vecs[2]) > 0.9999


def test_char_ngrams_match_across_inflections():
    index = CharNgrams(["Wecker auf sieben Uhr stellen", "Spiele Musik von Queen"])
    sims = index.similarities("stelle einen Wecker um sieben")
    assert sims[0] > 0.3 > sims[1]
    assert index.similarities("zzz").max() == 0.0  # no shared n-gram


def test_zero_corrections_is_plain_classify(engine):
    text = "Can we move the budget review to Monday?"
    with Profile.create("empty") as prof:
        plain = edgewise.classify(text, LABELS, engine=engine, calibrate=False)
        personal = edgewise.classify(text, LABELS, engine=engine, profile=prof, calibrate=False)
    assert personal.scores == plain.scores and personal.label == plain.label


def test_corrections_flip_the_decision_on_held_out_near_duplicates(engine):
    # raw label scores (no calibration pass) keep the test short; the combination is the same
    before = edgewise.classify_many(HELD_OUT, LABELS, engine=engine, calibrate=False)
    # teach the label the model did NOT pick for most of them
    picked = [r.label for r in before]
    target = min(LABELS, key=picked.count)
    assert picked.count(target) < len(HELD_OUT)  # the model alone does not already agree
    with Profile.create("chess") as prof:
        prof.correct_many([(t, target) for t in TAUGHT])
        prof.correct("Quarterly sales figures attached for review", "work")
        prof.correct("Happy birthday grandma, see you Sunday", "personal")
        clf = PersonalClassifier(engine, LABELS, prof, calibrate=False)
        after = clf.classify_many(HELD_OUT)
        assert [r.label for r in after] == [target] * len(HELD_OUT)
        assert all(r.scores[target] > b.scores[target] for r, b in zip(after, before))
        # a near-duplicate of another correction follows that correction
        assert clf.classify("Happy birthday grandma! See you on Sunday").label == "personal"
        # the corrections are cached as vectors in the profile
        assert prof.info()["cached_embeddings"] >= len(TAUGHT) + 2


def test_corrections_become_examples_only_once_they_predict_themselves(engine, monkeypatch):
    consistent = [
        ("Chess club meets Thursday at 7", "personal"),
        ("Chess club tournament on Friday", "personal"),
        ("Chess club moves to room 4", "personal"),
        ("New chess club members welcome", "personal"),
        ("Quarterly sales figures attached", "work"),
        ("Sales figures for the quarter are in", "work"),
        ("Attached: the quarterly sales report", "work"),
        ("Quarter sales numbers, please review", "work"),
    ]
    # pairs of near-duplicates with opposite labels: each one's nearest neighbour says otherwise
    contradictory = []
    for a, b in [
        ("Lunch with Sam on Saturday", "Lunch with Sam on Saturday?"),
        ("Invoice 4471 is overdue", "Invoice 4471 is overdue!"),
        ("Flight to Lisbon booked", "Flight to Lisbon is booked"),
        ("Dentist appointment at 3pm", "Dentist appointment at 3 pm"),
    ]:
        contradictory += [(a, "work"), (b, "personal")]
    with Profile.create("taught") as good, Profile.create("noisy") as bad:
        good.correct_many(consistent)
        bad.correct_many(contradictory)
        trusted = PersonalClassifier(engine, LABELS, good, calibrate=False)
        noisy = PersonalClassifier(engine, LABELS, bad, calibrate=False)
        assert trusted.self_accuracy() == 1.0 and trusted.trusted()
        assert noisy.self_accuracy() == 0.0 and not noisy.trusted()
        # a repeated text is left out with its copies: it cannot vouch for itself
        good.correct("Chess club meets Thursday at 7", "work")
        again = PersonalClassifier(engine, LABELS, good, calibrate=False)
        assert again.self_accuracy() < 1.0
        # untrusted corrections still count as evidence, but the text is scored with the plain
        # prompt (batched with the cached prefix), never with their labels as examples
        # (here the model is no better than chance on these corrections, so it is not run at all;
        # give it the weight and the record of a model that is better than them)
        assert noisy.model_weight() == 0.0
        noisy._weight, noisy._model_accuracy = 0.5, 0.6
        with_examples = []
        monkeypatch.setattr(noisy, "_model", lambda *a: with_examples.append(a))
        text = "Lunch with Sam on Saturday, ok?"
        plain = edgewise.classify(text, LABELS, engine=engine, calibrate=False)
        res = noisy.classify(text)
        assert not with_examples and res.input_tokens == plain.input_tokens > 0
        assert trusted.classify("Chess club Thursday: bring your board").label == "personal"


def test_profile_label_set_is_enforced(engine):
    with Profile.create("fixed", labels=["spam", "ham"]) as prof:
        with pytest.raises(InputError, match="not in the label set of profile 'fixed'"):
            PersonalClassifier(engine, ["spam", "urgent"], prof)
        prof.correct("cheap pills", "spam")
        with pytest.raises(InputError, match="empty text"):
            edgewise.classify("  ", ["spam", "ham"], engine=engine, profile=prof, calibrate=False)
        with pytest.raises(InputError, match="the limit is"):
            edgewise.classify("spam " * 30_000, ["spam", "ham"], engine=engine, profile=prof)
    with pytest.raises(edgewise.InputError, match="no profile 'ghost'"):
        edgewise.classify("hi", LABELS, engine=engine, profile="ghost")


def test_nothing_leaves_the_device(engine, monkeypatch):
    """Every profile operation and personal task with outbound connections made to fail."""

    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with Profile.create("offline") as prof:
        prof.correct_many([(t, "personal") for t in TAUGHT[:2]])
        prof.add_writing(["Hi team,\nthe report is attached.\nBest, Ann"])
        prof.add_items([{"id": "1", "text": "chess openings"}, {"id": "2", "text": "pasta"}])
        prof.like("1")
        result = edgewise.classify(
            HELD_OUT[0], LABELS, engine=engine, profile=prof, calibrate=False
        )
        assert result.label in LABELS
        written = edgewise.compose(
            "Tell the team the report is late", profile=prof, engine=engine, max_tokens=16
        )
        assert written.text.startswith("Hi team,") and written.text.endswith("Best, Ann")
        redone = edgewise.rewrite(
            "report late, sorry", tone="formal", profile=prof, engine=engine, max_tokens=16
        )
        assert redone.text
        recs = prof.recommend(
            [{"id": "3", "text": "chess endgames"}], 1, reasons="model", engine=engine
        )
        assert recs[0].id == "3" and recs[0].reason and recs[0].similar_to == "1"
        assert prof.export()["feedback"] and prof.info()["items"] == 2
        prof.dislike("2")
    assert edgewise.personal.profile.list_profiles() == ["offline"]
    edgewise.personal.profile.delete_profile("offline")
    assert edgewise.personal.profile.list_profiles() == []
