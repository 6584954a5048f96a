"""One contract, three engines: FakeEngine, llama.cpp (the embedded SmolLM2-135M) and ONNX
Runtime GenAI (the same model exported by ``edgewise export onnx``).

Each case runs on every engine it applies to. The fake's text is scripted (every call answers
``COUNT``), so it shows the shapes and errors of the contract, not a model's choices; where
the fake differs by design (it stays usable after close), the case says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

import edgewise
from edgewise import (
    CapabilityError,
    ContextLengthExceededError,
    EdgewiseError,
    Engine,
    FakeEngine,
    InputError,
    InvalidOptionsError,
    UnsupportedSchemaError,
)

ENGINES = ["fake", "llamacpp", "onnx"]
REAL = ["llamacpp", "onnx"]
COUNT = "1. 1 2. 2 3. 3 4. 4 5. 5 6. 6 7. 7 8. 8 9. 9 10. 10"
COUNTING = [{"role": "user", "content": "Count from 1 to 10."}]
GREEDY = {"temperature": 0.0, "max_tokens": 40}
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
}
ADA = [{"role": "user", "content": "Ada Lovelace was 36. Reply with her name and age as JSON."}]


def _fake(**kwargs: Any) -> FakeEngine:
    return FakeEngine(default_response=COUNT, **kwargs)


@pytest.fixture(params=ENGINES)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def eng(kind: str, request: pytest.FixtureRequest) -> Engine:
    """The session's engine of this kind (a fresh fake: it records calls)."""
    if kind == "fake":
        return _fake()
    return request.getfixturevalue("engine" if kind == "llamacpp" else "onnx_engine")


@pytest.fixture
def fresh(kind: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A new engine of this kind with a small context, for cases that close or fill it."""
    if kind == "fake":
        made: Engine = _fake(n_ctx=256)
    elif kind == "llamacpp":
        made = edgewise.load("smollm2-135m", n_ctx=256)
    else:
        made = edgewise.load(str(request.getfixturevalue("onnx_dir")), n_ctx=256)
    yield made
    made.close()


# ------------------------------------------------------------------ generation
def test_is_an_engine_with_its_capabilities_declared(eng):
    assert isinstance(eng, Engine)
    for flag in ("supports_grammar", "supports_embeddings", "supports_scoring"):
        assert isinstance(getattr(type(eng), flag), bool), flag
    assert eng.n_ctx > 0 and isinstance(eng.chat_mode, bool) and eng.name


def test_greedy_is_deterministic_and_honours_max_tokens(eng):
    a = eng.generate(COUNTING, GREEDY)
    b = eng.generate(COUNTING, GREEDY)
    assert a.text == b.text and a.text.strip()
    assert a.finish_reason in ("stop", "length")
    assert 0 < a.usage.completion_tokens <= GREEDY["max_tokens"]
    assert a.usage.prompt_tokens == len(eng.prompt_tokens(COUNTING))
    short = eng.generate(COUNTING, {"temperature": 0, "max_tokens": 3})
    assert short.finish_reason == "length" and short.usage.completion_tokens == 3
    assert a.text.startswith(short.text)


def test_a_seed_makes_sampling_repeatable(eng):
    opts = {"temperature": 0.8, "seed": 7, "max_tokens": 12}
    assert eng.generate(COUNTING, opts).text == eng.generate(COUNTING, opts).text


def test_stop_strings_end_the_text_before_them(eng):
    full = eng.generate(COUNTING, GREEDY).text
    assert "5" in full
    cut = eng.generate(COUNTING, {**GREEDY, "stop": ["5"]})
    assert cut.finish_reason == "stop" and "5" not in cut.text
    assert full.startswith(cut.text)


def test_stream_chunks_join_to_the_generated_text(eng):
    chunks = list(eng.stream(COUNTING, GREEDY))
    assert "".join(c.text for c in chunks) == eng.generate(COUNTING, GREEDY).text
    last = chunks[-1]
    assert last.usage is not None and last.finish_reason in ("stop", "length")
    assert all(c.usage is None for c in chunks[:-1])


def test_schema_output_parses_and_validates(eng, kind):
    if kind == "fake":  # scripted: the fake answers what it is given, checks the schema only
        eng.enqueue({"name": "Ada Lovelace", "age": 36})
    out = eng.generate(ADA, {"temperature": 0, "max_tokens": 80}, schema=PERSON)
    jsonschema.validate(json.loads(out.text), PERSON)
    with pytest.raises(UnsupportedSchemaError):  # refused before any generation
        eng.generate(ADA, GREEDY, schema={"type": "string", "pattern": "(?=a)a"})


def test_arguments_are_checked_alike(eng):
    with pytest.raises(InvalidOptionsError):
        eng.generate(COUNTING, {"bogus": 1})
    with pytest.raises(InvalidOptionsError):
        eng.generate(COUNTING, {"max_tokens": 0})
    with pytest.raises(InputError):
        eng.generate("   ")
    with pytest.raises(InputError):
        eng.generate([])
    with pytest.raises(InputError, match="message 0"):
        eng.generate([{"role": "robot", "content": "x"}])


def test_a_prompt_longer_than_the_context_is_a_typed_error(fresh):
    with pytest.raises(ContextLengthExceededError) as info:
        fresh.generate("word " * (fresh.n_ctx + 50), {"max_tokens": 1})
    assert info.value.n_ctx == fresh.n_ctx and info.value.tokens >= fresh.n_ctx
    with pytest.raises(ContextLengthExceededError):
        list(fresh.stream("word " * (fresh.n_ctx + 50), {"max_tokens": 1}))
    assert fresh.generate("Hello", {"max_tokens": 2, "temperature": 0}).usage.completion_tokens


# ------------------------------------------------------------------ scoring
def test_score_gives_one_logprob_per_continuation(eng):
    conts = [" Paris", " London", " a city in Europe"]
    scores = eng.score("The capital of France is", conts)
    assert [s.text for s in scores] == conts
    for s in scores:
        assert s.logprob <= 0 and s.n_tokens == len(s.token_logprobs) >= 1
        assert math.isclose(s.logprob, sum(s.token_logprobs), rel_tol=1e-6, abs_tol=1e-9)
    assert scores[2].n_tokens > 1


def test_score_batch_has_a_row_per_item_and_a_score_per_continuation(eng):
    prefix = "Classify the message as spam or ham.\n"
    items = ["Message: WIN a FREE cruise!\nLabel:", "Message: Lunch at noon?\nLabel:", ""]
    labels = [" spam", " ham", " not sure"]
    rows = eng.score_batch(prefix, items, labels)
    assert len(rows) == len(items)
    for row in rows:
        assert [s.text for s in row] == labels and all(s.logprob <= 0 for s in row)
    # token ids give the same shape
    ids = eng.score_batch(
        eng.prompt_tokens(prefix), [eng.tokenize(items[0])], [eng.tokenize(x) for x in labels]
    )
    assert len(ids) == 1 and len(ids[0]) == len(labels)


@pytest.mark.parametrize("kind", REAL, indirect=True)
def test_scoring_refuses_what_it_cannot_score(eng):
    with pytest.raises(EdgewiseError, match="no continuations"):
        eng.score_batch("Prompt:", ["x"], [])
    with pytest.raises(EdgewiseError, match="has no tokens"):
        eng.score_batch("Prompt:", ["x"], [""])
    with pytest.raises(EdgewiseError, match="nothing to score after"):
        eng.score_batch("", [""], [" yes"])


# ------------------------------------------------------------------ tokens
def test_tokenize_detokenize_round_trip_and_count(eng):
    text = "Hello world, how are you?"
    tokens = eng.tokenize(text)
    assert tokens and all(isinstance(t, int) for t in tokens)
    assert eng.detokenize(tokens) == text
    assert eng.count_tokens(text) == len(tokens)
    assert eng.tokenize(text, special=True) == tokens  # no special-token text in it


# ------------------------------------------------------------------ capabilities & lifecycle
def test_capability_flags_are_honest(eng):
    if type(eng).supports_embeddings:
        vecs = eng.embed(["The cat sat.", "Quarterly taxes."])
        assert len(vecs) == 2 and all(abs(sum(x * x for x in v) - 1) < 1e-6 for v in vecs)
        with pytest.raises(InputError, match="embed takes a list of texts"):
            eng.embed("one string")
    else:
        with pytest.raises(CapabilityError, match="no embeddings"):
            eng.embed(["hello"])
    if getattr(type(eng), "supports_logprobs", False):
        chunks = list(eng.stream(COUNTING, {"temperature": 0, "max_tokens": 4}, logprobs=2))
        got = [lp for c in chunks for lp in (c.logprobs or [])]
        assert len(got) == 4 and all(lp.logprob <= 0 and len(lp.top) == 2 for lp in got)
    else:
        with pytest.raises(TypeError):
            eng.stream(COUNTING, {"max_tokens": 1}, logprobs=2)


def test_a_closed_engine_is_a_clear_error(fresh, kind):
    prefix = fresh.prompt_tokens("Label:")
    with fresh:
        pass
    fresh.close()  # a second close is harmless
    calls = [
        lambda: fresh.tokenize("hi"),
        lambda: fresh.generate("Hello", {"max_tokens": 2}),
        lambda: list(fresh.stream("Hello", {"max_tokens": 2})),
        lambda: fresh.score_batch(prefix, [[prefix[-1]]], [" yes"]),
    ]
    if kind == "fake":  # by design: tests read a closed fake's calls and may reuse it
        assert fresh.closed and fresh.generate("Hello").text
        return
    for call in calls:
        with pytest.raises(CapabilityError, match="is closed: load the model again"):
            call()
