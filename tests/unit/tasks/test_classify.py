"""Classifier logic on the FakeEngine: prompt layout, calibration, abstention, bad input."""

from __future__ import annotations

import math

import pytest

from edgewise import Classifier, FakeEngine, Router, classify_many
from edgewise.errors import InputError
from edgewise.tasks.classify import CONTENT_FREE, DOMAIN_SAMPLES, spoken_labels


def biased_scorer(prompt: str, cont: str) -> float:
    """Prefers 'spam' everywhere (a prior), but a bit less when the text says 'hello'."""
    base = {"spam": -0.2, "ham": -3.0}[cont]
    if "hello" in prompt and cont == "ham":
        base += 2.5  # still below spam uncalibrated (-0.5 vs -0.2)
    return base


def test_probabilities_sum_to_one_and_label_in_set():
    clf = Classifier(FakeEngine(), ["spam", "ham"], calibrate=False)
    res = clf.classify("WIN A PRIZE NOW")
    assert res.label in ("spam", "ham") and res.labels == [res.label]
    assert math.isclose(sum(res.scores.values()), 1.0, abs_tol=1e-5)
    assert res.confidence == max(res.scores.values())


def test_content_free_calibration_removes_the_prior():
    eng = FakeEngine(scorer=biased_scorer)
    raw = Classifier(eng, ["spam", "ham"], calibrate=False).classify_many(
        ["hello there", "buy now"]
    )
    assert [r.label for r in raw] == ["spam", "spam"]  # the prior wins everywhere
    cal = Classifier(eng, ["spam", "ham"]).classify_many(["hello there", "buy now"])
    assert [r.label for r in cal] == ["ham", "spam"]
    # the content-free items were scored once, after the same prefix
    cf_calls = [c for c in eng.calls if c["op"] == "score" and len(c["items"]) == len(CONTENT_FREE)]
    assert len(cf_calls) == 1


def test_prefix_carries_labels_descriptions_and_examples():
    eng = FakeEngine()
    clf = Classifier(
        eng,
        ["urgent", "later"],
        descriptions={"urgent": "must act today"},
        examples=[{"text": "server down", "label": "urgent"}, ("see you", "later")],
        calibrate=False,
    )
    clf.classify_many(["a", "b", "c"])
    call = [c for c in eng.calls if c["op"] == "score"][-1]
    prefix = call["prefix"]
    assert "urgent: must act today" in prefix and "server down" in prefix and "see you" in prefix
    assert len(call["items"]) == 3 and call["continuations"] == ["urgent", "later"]
    # the item's text is not in the shared prefix
    assert all(t not in prefix.split() for t in ("a", "b", "c"))


def test_paths_and_camel_case_labels_are_read_and_scored_as_words():
    assert spoken_labels(["weather/find", "alarm/set_alarm", "BookRestaurant", "needs_human"]) == [
        "weather: find",
        "alarm: set_alarm",
        "book restaurant",
        "needs_human",
    ]
    # phrases and words stay; labels that would read alike keep their names
    assert spoken_labels(["A/B test", "iPhone", "spam"]) == ["A/B test", "iPhone", "spam"]
    assert spoken_labels(["GetWeather", "get weather"]) == ["GetWeather", "get weather"]
    eng = FakeEngine()
    clf = Classifier(
        eng,
        ["weather/find", "PlayMusic"],
        examples=[("play some jazz", "PlayMusic"), ("will it rain", "weather/find")],
        calibrate=False,
    )
    res = clf.classify("is it sunny")
    call = [c for c in eng.calls if c["op"] == "score"][-1]
    assert "- weather: find" in call["prefix"] and "play music" in call["prefix"]
    assert call["continuations"] == ["weather: find", "play music"]
    assert res.label in ("weather/find", "PlayMusic")  # results keep the caller's names
    assert set(res.scores) == {"weather/find", "PlayMusic"}


def test_threshold_abstains():
    res = Classifier(FakeEngine(), ["x", "y", "z"], threshold=0.99).classify("something")
    assert res.abstained and res.labels == [] and res.label in ("x", "y", "z")
    res = Classifier(FakeEngine(), ["x", "y", "z"], threshold=0.0).classify("something")
    assert not res.abstained


def test_multi_label_scores_each_label():
    def scorer(prompt: str, cont: str) -> float:
        last_question = prompt.rsplit("Does the text belong", 1)[-1]
        about_billing = "'billing'" in last_question and "invoice" in prompt
        match = about_billing == (cont == "yes")
        return -0.1 if match else -3.0

    res = Classifier(FakeEngine(scorer=scorer), ["billing", "shipping"], multi_label=True).classify(
        "my invoice is wrong"
    )
    assert res.labels == ["billing"] and res.scores["billing"] > 0.9
    # the model says "no" to shipping as it does for a content-free text: no evidence either way
    assert res.scores["shipping"] == pytest.approx(0.5)


def test_bad_items_are_reported_and_the_rest_go_on():
    clf = Classifier(FakeEngine(), ["a", "b"], max_input_tokens=3)
    out = clf.classify_many(["one two", "   ", "one two three four five"])
    assert out[0].error is None and out[1].error == "empty text"
    assert out[2].truncated and out[2].input_tokens == 3
    with pytest.raises(InputError, match="empty"):
        clf.classify("")


@pytest.mark.parametrize("multi_label", [False, True])
def test_texts_that_are_not_strings_or_not_unicode_are_item_errors(multi_label):
    clf = Classifier(FakeEngine(), ["a", "b"], multi_label=multi_label)
    out = clf.classify_many(["one two", "bad \ud800 text", 5, ["x"]])
    assert out[0].error is None and out[0].label in ("a", "b")
    assert "not valid Unicode: U+D800" in out[1].error
    assert out[2].error == "a text must be a string, not int"
    assert out[3].error == "a text must be a string, not list"
    with pytest.raises(InputError, match="must be a string, not list"):
        clf.classify(["a", "b"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        (["a"], {}, "at least two"),
        (["a", "a"], {}, "unique"),
        (["a", ""], {}, "non-empty"),
        (["a", "b"], {"descriptions": {"c": "x"}}, "not a label"),
        (["a", "b"], {"examples": [{"text": "t", "label": "c"}]}, "not one of"),
        (["a", "b"], {"examples": [{"label": "a"}]}, "'text' and 'label'"),
        (["a", "b"], {"threshold": 1.5}, "between 0 and 1"),
        (["a", "b"], {"threshold": "high"}, "between 0 and 1"),
        (["a", "b"], {"descriptions": ["a"]}, "map each label"),
        (["a", "b"], {"descriptions": {"a": 5}}, "must be a string"),
        (["a", "b"], {"examples": [{"text": 5, "label": "a"}]}, "as strings"),
        (["a", "b"], {"multi_label": True, "examples": [("t", "a")]}, "not used for multi-label"),
        (["a\udcff", "b"], {}, "not valid Unicode"),
        (None, {}, "a list of strings, not NoneType"),
        ([None, "a"], {}, "non-empty strings"),
        (["a", 2], {}, "non-empty strings"),
        (["a", "b"], {"max_input_tokens": "256"}, "whole number"),
        (["a", "b"], {"max_input_tokens": 2.5}, "whole number"),
        (["a", "b"], {"max_input_tokens": 0}, "at least 1"),
    ],
)
def test_invalid_setup_is_a_clear_error(labels, kwargs, match):
    with pytest.raises(InputError, match=match):
        Classifier(FakeEngine(), labels, **kwargs)


def test_multi_label_questions_that_leave_no_room_for_the_text_are_a_clear_error():
    labels = [f"topic{i}" for i in range(60)]  # 60 questions of about 40 tokens each
    with pytest.raises(
        InputError, match="take about 2600 tokens of the 2048-token context: give fewer labels"
    ):
        Classifier(FakeEngine(n_ctx=2048), labels, multi_label=True)
    assert Classifier(FakeEngine(n_ctx=4096), labels, multi_label=True).classify("hello").labels


def test_examples_that_leave_no_room_for_the_text_are_a_clear_error():
    shots = [(f"example {i} " + "word " * 40, "a") for i in range(20)]
    with pytest.raises(InputError, match="fewer or shorter examples"):
        Classifier(FakeEngine(n_ctx=512), ["a", "b"], examples=shots)


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize(
    "texts, match",
    [
        ("abc", "not one string"),
        (None, "not NoneType"),
        (5, "not int"),
        (b"abc", "not bytes"),
        ({"text": "abc"}, "not dict"),
    ],
)
def test_classify_many_rejects_what_is_not_a_list_of_texts(texts, match, multi_label):
    with pytest.raises(InputError, match=f"list of texts, {match}"):
        Classifier(FakeEngine(), ["a", "b"], multi_label=multi_label).classify_many(texts)


@pytest.mark.parametrize("multi_label", [False, True])
def test_classify_many_and_route_many_take_a_generator(multi_label):
    clf = Classifier(FakeEngine(), ["a", "b"], multi_label=multi_label)
    results = clf.classify_many(t for t in ["one text", "", "another"])
    assert [r.error for r in results] == [None, "empty text", None]
    got = classify_many((t for t in ["one", "two"]), ["a", "b"], engine=FakeEngine())
    assert len(got) == 2 and all(r.label in ("a", "b") for r in got)
    router = Router({"labels": {"a": {}, "b": {}}}, engine=FakeEngine())
    assert [d.route in ("a", "b") for d in router.route_many(t for t in ["x", "y"])] == [True] * 2


@pytest.mark.parametrize("multi_label", [False, True])
def test_progress_reaches_the_total_when_every_item_is_invalid(multi_label):
    calls: list[tuple[int, int]] = []
    clf = Classifier(FakeEngine(), ["a", "b"], multi_label=multi_label)
    results = clf.classify_many(["", "  ", None], progress=lambda *a: calls.append(a))
    assert all(r.error for r in results) and calls and calls[-1] == (3, 3)
    calls.clear()
    clf.classify_many(["one", "", "two"], progress=lambda *a: calls.append(a))
    assert calls[-1] == (3, 3) and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_domain_calibration_draws_word_bags_from_the_task_text():
    eng = FakeEngine()
    texts = [f"invoice {i} for the order of blue widgets shipped last week" for i in range(10)]
    clf = Classifier(eng, ["billing", "other"])
    clf.classify_many(texts)
    first = [c for c in eng.calls if c["op"] == "score"][0]
    vocab = set(" ".join(texts).split())
    bags = [item.rsplit("Text:", 1)[-1].split()[:-2] for item in first["items"]]
    assert len(first["items"]) == DOMAIN_SAMPLES and all(
        set(b) <= vocab | {"assistant"} for b in bags
    )
    prior = clf._prior
    clf.classify_many(["something else entirely"])
    assert clf._prior == prior  # computed once per classifier
    cf = Classifier(eng, ["billing", "other"], calibration="content_free")
    before = len(eng.calls)
    cf.classify_many(texts)
    assert len(eng.calls[before]["items"]) == len(CONTENT_FREE)
    with pytest.raises(InputError, match="calibration"):
        Classifier(eng, ["a", "b"], calibration="magic")


def test_one_text_alone_is_calibrated_content_free_not_against_its_own_words():
    eng = FakeEngine()
    text = "WIN a FREE cruise and a gift card, click the link now to claim your prize " * 4
    Classifier(eng, ["spam", "ham"]).classify(text)  # 60 words, but one text
    first = [c for c in eng.calls if c["op"] == "score"][0]
    assert len(first["items"]) == len(CONTENT_FREE)
    Classifier(eng, ["spam", "ham"], examples=[("Lunch at noon?", "ham")]).classify(text)
    first = [c for c in eng.calls if c["op"] == "score"][2]  # with an example: two texts
    assert len(first["items"]) == DOMAIN_SAMPLES


def test_a_near_uniform_prior_is_not_divided_out():
    """A mild bias (prior 0.43/0.57 here) is left alone; a strong one is removed."""

    def mild(prompt: str, cont: str) -> float:
        base = {"spam": -0.55, "ham": -0.85}[cont]
        if "hello" in prompt and cont == "ham":
            base += 0.32  # ham barely ahead: raw picks ham, dividing the prior out would not
        return base

    texts = ["hello there", "buy now"]
    clf = Classifier(FakeEngine(scorer=mild), ["spam", "ham"])
    res = clf.classify_many(texts)
    assert clf.prior_skew is not None and clf.prior_skew < 0.2
    assert clf._prior == [0.5, 0.5]
    raw = Classifier(FakeEngine(scorer=mild), ["spam", "ham"], calibrate=False)
    assert [r.scores for r in res] == [r.scores for r in raw.classify_many(texts)]
    assert [r.label for r in res] == ["ham", "spam"]
    strong = Classifier(FakeEngine(scorer=biased_scorer), ["spam", "ham"])
    strong.classify_many(texts)
    assert strong.prior_skew is not None and strong.prior_skew >= 0.2


def test_chunks_hold_about_a_token_budget_and_keep_order():
    from edgewise.tasks.classify.classifier import CHUNK_ITEMS, CHUNK_TOKENS, _chunks

    short = [(i, [1] * 20) for i in range(200)]  # subject lines: many per chunk, capped
    chunks = list(_chunks(short))
    assert [i for c in chunks for i, _ in c] == list(range(200))
    assert max(len(c) for c in chunks) == CHUNK_ITEMS
    long = [(i, [1] * 600) for i in range(7)]  # emails: split on the token budget
    sizes = [sum(len(t) for _, t in c) for c in _chunks(long)]
    assert all(s <= CHUNK_TOKENS for s in sizes) and sum(sizes) == 7 * 600
    huge = [(0, [1] * (CHUNK_TOKENS + 5)), (1, [1])]  # an item over the budget goes alone
    assert [len(c) for c in _chunks(huge)] == [1, 1]


def test_item_text_keeps_runs_of_spaces_but_not_line_noise():
    """Spaces padding a spam subject are evidence the model sees; CRLF, trailing spaces and
    runs of blank lines are not."""
    eng = FakeEngine()
    seen: list[str] = []
    tokenize = eng.tokenize

    def spy(text: str, *, special: bool = False) -> list[int]:
        seen.append(text)
        return tokenize(text, special=special)

    eng.tokenize = spy  # type: ignore[method-assign]
    res = Classifier(eng, ["spam", "ham"], calibrate=False).classify_many(
        ["Cheap meds          XKQZ7  \r\n\r\n\r\n\r\nbody  line\t \r\n"]
    )
    assert res[0].error is None
    assert "Cheap meds          XKQZ7\n\nbody  line" in seen


def test_prefix_tokens_counts_the_shared_prompt_before_the_item():
    eng = FakeEngine()
    plain = Classifier(eng, ["spam", "ham"])
    shots = Classifier(eng, ["spam", "ham"], examples=[("win cash now", "spam")])
    assert 0 < plain.prefix_tokens < shots.prefix_tokens  # examples sit in the shared prefix
    assert Classifier(eng, ["spam", "ham"], multi_label=True).prefix_tokens == 0
