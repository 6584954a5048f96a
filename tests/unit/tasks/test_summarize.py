"""Summarizer logic on the FakeEngine: budgets, splitting, map-reduce, errors."""

from __future__ import annotations

import json

import pytest

from edgewise import FakeEngine
from edgewise.errors import InputError
from edgewise.tasks.summarize import BUDGETS, Summarizer, fit_budget, split_sentences


def test_fit_budget_cuts_whole_sentences_and_words():
    text = "One. Two is here! Three? Four."
    assert fit_budget(text, "sentences", 2) == "One. Two is here!"
    assert fit_budget("a b c d e", "words", 3) == "a b c"
    # stopped by the token limit: the last word, and an unfinished last sentence, are dropped
    assert fit_budget("la biblioteca pública en el", "words", 10, cut=True) == (
        "la biblioteca pública"  # nor a dangling "en"
    )
    cut = "Salas nuevas. Abiertas hasta las diez de la noche, hast"
    assert fit_budget(cut, "sentences", 2, cut=True) == "Salas nuevas."
    assert fit_budget("Abiertas hasta las diez de la noche, hast", "sentences", 1, cut=True) == (
        "Abiertas hasta las diez de la noche,"
    )


def test_a_headline_over_its_budget_ends_at_a_clause_or_without_dangling_words():
    long = "Council approves bike lane plan, expected to boost cycling across the whole city"
    assert fit_budget(long, "words", 10) == "Council approves bike lane plan"
    two = "Bike lanes grow by 40 km. Shop owners fear for parking"
    assert fit_budget(two, "words", 8) == "Bike lanes grow by 40 km"
    plain = "City council votes to expand the bicycle lane network by 40 kilometres"
    assert fit_budget(plain, "words", 10) == "City council votes to expand the bicycle lane network"
    assert fit_budget("Der Stadtrat stimmt für mehr Radwege in der Stadt", "words", 8) == (
        "Der Stadtrat stimmt für mehr Radwege"
    )
    assert fit_budget("A headline within budget of", "words", 10) == "A headline within budget of"
    # content words stay, and an abbreviation's dot is no sentence end
    assert fit_budget("Swiss voters say no to new fuel tax", "words", 5) == "Swiss voters say no"
    assert fit_budget("Thousands of fish die in heatwave on Rhine", "words", 4) == (
        "Thousands of fish die"
    )
    assert fit_budget("Fed cuts U.S. rates by half a point amid fears", "words", 7) == (
        "Fed cuts U.S. rates by half"
    )


def test_a_summary_cut_by_the_token_limit_drops_its_unfinished_sentence():
    eng = FakeEngine(default_response="The library opens in May. " + "It has rooms " * 60)
    s = Summarizer(eng, type="tldr", length="medium").summarize("x")
    assert s.text == "The library opens in May."


def test_key_points_lose_their_own_markers_and_repeats():
    points = ["1. Opens in May", "- Opens in May", "2) Free entry", "free entry", "Cafe inside"]
    eng = FakeEngine([json.dumps({"points": points})])
    s = Summarizer(eng, type="key_points", length="long").summarize("x")
    assert s.points == ["Opens in May", "Free entry", "Cafe inside"]


def test_an_unknown_language_code_is_an_error_a_name_is_kept():
    eng = FakeEngine()
    for code in ("xx", "zz-ZZ", "abc"):
        with pytest.raises(InputError, match="unknown language code"):
            Summarizer(eng, language=code)
    assert Summarizer(eng, language="Swiss German").language == "Swiss German"
    assert split_sentences("Hola. ¿Qué tal? Bien.") == ["Hola.", "¿Qué tal?", "Bien."]


@pytest.mark.parametrize("kind", ["tldr", "teaser"])
def test_sentence_summaries_stay_within_budget(kind):
    eng = FakeEngine(default_response="First. Second. Third. Fourth. Fifth. Sixth.")
    s = Summarizer(eng, type=kind, length="short").summarize("Some text to summarize.")
    assert len(split_sentences(s.text)) <= BUDGETS[kind]["short"]


def test_key_points_come_from_the_grammar_and_are_capped():
    eng = FakeEngine()
    eng.enqueue({"points": ["alpha", "beta", "gamma"]})
    s = Summarizer(eng, type="key_points", length="short").summarize("text here")
    assert s.points == ["alpha", "beta", "gamma"] and s.text == "- alpha\n- beta\n- gamma"
    schema = eng.calls[-1]["schema"]
    assert schema["properties"]["points"]["maxItems"] == BUDGETS["key_points"]["short"]


def test_headline_is_one_line_of_limited_words():
    eng = FakeEngine(
        default_response='"Big news about the thing that happened in the town today ok"'
    )
    s = Summarizer(eng, type="headline", length="short").summarize("text")
    assert len(s.text.split()) <= BUDGETS["headline"]["short"] and '"' not in s.text
    assert eng.calls[-1]["options"].stop == ["\n"]


def test_long_input_is_split_and_combined_with_progress():
    eng = FakeEngine(n_ctx=900)
    paragraphs = [f"Paragraph {i} " + "word " * 120 for i in range(8)]
    text = "\n\n".join(paragraphs)
    s = Summarizer(eng, type="tldr", length="short")
    room = s._room()
    pieces = s.split(text, room)
    assert len(pieces) > 1 and all(eng.count_tokens(p) <= room for p in pieces)
    # nothing is dropped: every word of the input is in some piece
    assert sum(eng.count_tokens(p) for p in pieces) == eng.count_tokens(text)
    for _ in pieces:
        eng.enqueue({"points": ["a point"]})
    eng.enqueue("Combined summary. Extra sentence.")
    seen = []
    out = s.summarize(text, progress=lambda d, n: seen.append((d, n)))
    assert out.pieces == len(pieces) and out.text == "Combined summary."
    assert seen[-1] == (len(pieces), len(pieces))
    # the final call summarized the points, not the raw text
    assert "a point" in eng.calls[-1]["prompt"] and "Paragraph 3" not in eng.calls[-1]["prompt"]


def test_one_enormous_sentence_is_split_by_tokens():
    eng = FakeEngine(n_ctx=900)
    s = Summarizer(eng)
    pieces = s.split("x " * 2000, s._room())
    assert len(pieces) > 1 and sum(eng.count_tokens(p) for p in pieces) == 2000


def test_language_and_context_reach_the_prompt():
    eng = FakeEngine(default_response="Resumen.")
    Summarizer(eng, language="Spanish", context="a voice note").summarize("hello")
    prompt = eng.calls[-1]["prompt"]
    assert "Write in Spanish." in prompt and "Context: a voice note" in prompt
    # a language code is named: small models follow "Spanish", not "es"
    for code, name in [("es", "Spanish"), ("pt-BR", "Portuguese"), ("Klingon", "Klingon")]:
        Summarizer(eng, language=code).summarize("hello")
        assert f"Write in {name}." in eng.calls[-1]["prompt"]
    # no language given: the text's, named when its common words make it clear
    Summarizer(eng).summarize(
        "Der Stadtrat hat am Dienstag die neuen Linien mit dem Plan beschlossen."
    )
    assert "Write in German, the language of the text." in eng.calls[-1]["prompt"]
    Summarizer(eng).summarize("市议会周二投票决定在未来三年内将自行车道网络延长40公里。")
    assert "Write in the same language as the text." in eng.calls[-1]["prompt"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"type": "poem"}, "unknown summary type"),
        ({"length": "xl"}, "length"),
        ({"type": ["tldr"]}, "unknown summary type"),
        ({"length": ["short"]}, "unknown length"),
        ({"language": 5}, "language must be a string, not int"),
        ({"context": ["a"]}, "context must be a string, not list"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        Summarizer(FakeEngine(), **kwargs)


def test_empty_text():
    with pytest.raises(InputError, match="empty"):
        Summarizer(FakeEngine()).summarize("  \n ")


def test_key_points_json_is_parsed_even_if_cut():
    eng = FakeEngine()
    eng.enqueue(json.dumps({"points": ["one", "two"]}))
    assert Summarizer(eng, type="key_points").summarize("t").points == ["one", "two"]
