"""Style summary, stylometry, compose/rewrite prompts (FakeEngine) and recommendations.

Recommendations use the real MiniLM embedder (onnxruntime, no LLM): ranking is about the
vectors, so a stub would test nothing.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import edgewise
from edgewise.cli.main import cli
from edgewise.errors import InputError
from edgewise.personal.profile import Profile
from edgewise.personal.style import (
    clean_email,
    compose,
    greeting_of,
    language,
    rewrite,
    signoff_of,
    style_distance,
    style_summary,
)

CASUAL = [
    "hey Sam,\n\ngonna be late, traffic is awful lol! save me a seat 😅\n\ncheers\nJo",
    "hey Sam,\n\ncan't make lunch, sorry!! next week? 🙏\n\ncheers\nJo",
    "hey Sam,\n\nthat's awesome news, congrats! 🎉\n\ncheers\nJo",
]
FORMAL = [
    "Dear Ms. Keller,\n\nPlease find attached the revised contract. I would appreciate your "
    "comments by Friday.\n\nKind regards,\nDr. Anna Weber",
    "Dear Mr. Brandt,\n\nThank you for your letter of 3 May. We will review the proposal and "
    "reply within two weeks.\n\nKind regards,\nDr. Anna Weber",
]


def test_style_summary_measures_the_user():
    casual, formal = style_summary(CASUAL), style_summary(FORMAL)
    assert casual.greetings == ["hey Sam,"] and casual.greeting_rate == 1.0
    assert casual.signoffs == ["cheers\nJo"] and casual.emoji_per_100_words > 5
    assert formal.signoffs == ["Kind regards,\nDr. Anna Weber"] and formal.emoji_per_100_words == 0
    assert casual.formality < 0.4 < 0.6 < formal.formality
    assert "casual" in casual.describe() and "formal" in formal.describe()
    assert "No emoji" in formal.describe() and "emoji now and then" in casual.describe()
    assert style_summary([]).samples == 0


def test_language_greeting_signoff_and_email_cleaning():
    assert language("Ich habe den Termin nicht vergessen, das ist mit dir") == "de"
    assert language("Non ho tempo per la riunione di oggi, mi dispiace") == "it"
    assert greeting_of("Hi Bob,\nthanks") == "Hi Bob," and greeting_of("The report is late") is None
    assert signoff_of("text\n\nBest,\nAnn") == "Best,\nAnn"
    mail = "Bob wrote:\n> old text\nMy answer.\n\nAnn\n-- \nAnn Example, ACME Inc.\n"
    assert clean_email(mail) == "My answer.\n\nAnn"


def test_stylometric_distance_separates_styles():
    pool = CASUAL + FORMAL
    near = style_distance(CASUAL[:1], CASUAL[1:], pool)
    assert near < style_distance(FORMAL[:1], CASUAL[1:], pool)
    assert style_distance(FORMAL[:1], FORMAL[1:], pool) < style_distance(
        CASUAL[:1], FORMAL[1:], pool
    )
    with pytest.raises(InputError):
        style_distance([], CASUAL)


def test_compose_conditions_on_style_and_frames_the_text():
    eng = edgewise.FakeEngine(["Running late, start without me.", "Running late."])
    with Profile.create("jo") as prof:
        prof.add_writing(CASUAL)
        out = compose("tell Sam I am late", profile=prof, engine=eng)
    system = eng.calls[-1]["prompt"]  # the rendered prompt
    assert "casual" in system and "A message the user wrote" in system
    assert "hey Sam" in system  # a past text is in the prompt as an example
    assert out.text == "hey Sam,\n\nRunning late, start without me.\n\ncheers\nJo"
    assert out.style is not None and len(out.examples) == 2
    # without a profile nothing is added
    assert compose("tell Sam I am late", engine=eng).text == "Running late."


def test_rewrite_and_bad_input():
    eng = edgewise.FakeEngine(["Please accept my apologies for the delay."])
    out = rewrite("sorry im late", tone="formal", engine=eng)
    assert out.text.startswith("Please accept")
    assert "formal tone" in eng.calls[-1]["prompt"]
    with pytest.raises(InputError, match="empty"):
        rewrite("  ", engine=eng)
    with pytest.raises(InputError, match="tone"):
        rewrite("hello", tone=" ", engine=eng)
    with pytest.raises(edgewise.ProfileNotFoundError):
        compose("hi", profile="nobody", engine=eng)


ITEMS = [
    {"id": "sail1", "text": "A beginner's guide to sailing a small dinghy"},
    {"id": "sail2", "text": "How to trim your sails in gusty wind"},
    {"id": "cook1", "text": "Ten quick pasta recipes for weeknights"},
    {"id": "tax1", "text": "Filing your income tax return before the deadline"},
]
CANDIDATES = [
    {"id": "c-sail", "text": "Choosing a life jacket for dinghy sailing"},
    {"id": "c-sail2", "text": "Reading the wind: sailing upwind for beginners"},
    {"id": "c-cook", "text": "A simple tomato sauce for pasta"},
    {"id": "c-tax", "text": "Tax deductions you can claim on your return"},
    {"id": "c-garden", "text": "Planting tulip bulbs in autumn"},
]


def test_recommend_ranks_by_likes_away_from_dislikes_with_reasons():
    with Profile.create("reader") as prof:
        prof.add_items(ITEMS)
        prof.like("sail1")
        prof.like("sail2")
        prof.dislike("tax1")
        recs = prof.recommend(CANDIDATES, k=5, diversity=0.0)
        ids = [r.id for r in recs]
        assert set(ids[:2]) == {"c-sail", "c-sail2"}
        assert ids[-1] == "c-tax"  # close to a dislike: last
        assert recs[0].similar_to in {"sail1", "sail2"} and "you liked" in recs[0].reason
        assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
        # diversity: with MMR strongly on, the second pick is not the other sailing text
        diverse = prof.recommend(CANDIDATES, k=2, diversity=0.9)
        assert diverse[0].id in {"c-sail", "c-sail2"} and diverse[1].id not in {"c-sail", "c-sail2"}
        # default candidates: the profile's unrated items
        assert [r.id for r in prof.recommend(k=3)] == ["cook1"]
        with pytest.raises(InputError, match="k must be"):
            prof.recommend(CANDIDATES, k=0)


def test_recommend_cli(tmp_path):
    run = CliRunner().invoke
    assert run(cli, ["profile", "create", "cli-reader"]).exit_code == 0
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(i) for i in ITEMS) + "\n")
    assert run(cli, ["profile", "add-items", "-p", "cli-reader", str(items)]).exit_code == 0
    assert run(cli, ["profile", "like", "-p", "cli-reader", "sail1"]).exit_code == 0
    cands = tmp_path / "c.jsonl"
    cands.write_text("\n".join(json.dumps(c) for c in CANDIDATES) + "\n")
    r = run(cli, ["profile", "recommend", "-p", "cli-reader", "-i", str(cands), "-k", "2"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert len(rows) == 2 and rows[0]["id"] in {"c-sail", "c-sail2"} and rows[0]["reason"]
    r = run(cli, ["profile", "add-writing", "-p", "cli-reader", "Hi all, short note. Ann"])
    assert r.exit_code == 0 and "added 1" in r.output
