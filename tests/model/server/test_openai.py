"""The OpenAI routes through the official openai client: chat, completions, embeddings."""

from __future__ import annotations

import json

import jsonschema
import pytest

from .helpers import HI, SCHEMA, greedy


def test_chat_stream_and_non_stream_give_the_same_greedy_text(oai):
    full = oai.chat.completions.create(model="smollm2-135m", messages=HI, **greedy())
    choice = full.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert full.model == "smollm2-135m"
    assert full.usage.prompt_tokens > 5
    assert 0 < full.usage.completion_tokens <= 12
    assert full.usage.total_tokens == full.usage.prompt_tokens + full.usage.completion_tokens

    parts, finish, usage = [], None, None
    events = oai.chat.completions.create(
        model="smollm2",  # an alias of the same model
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
        **greedy(),
    )
    for event in events:
        if event.usage is not None:
            usage = event.usage
        for c in event.choices:
            parts.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert "".join(parts) == choice.message.content
    assert len([p for p in parts if p]) > 1  # really streamed, not one block
    assert finish == choice.finish_reason
    assert usage.completion_tokens == full.usage.completion_tokens


def test_json_schema_and_json_object_outputs_are_valid(oai):
    out = oai.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "Ada Lovelace was 36. Give her name and age."}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}},
        temperature=0,
        max_tokens=60,
    )
    value = json.loads(out.choices[0].message.content)
    jsonschema.validate(value, SCHEMA)

    obj = oai.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=24,
    )
    text = obj.choices[0].message.content
    if obj.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)
    assert text.startswith("{")


def test_stop_seed_and_max_tokens(oai):
    base = oai.chat.completions.create(model="smollm2-135m", messages=HI, **greedy())
    words = base.choices[0].message.content.split()
    assert len(words) >= 3
    stop = " " + words[2]
    cut = oai.chat.completions.create(model="smollm2-135m", messages=HI, stop=[stop], **greedy())
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in cut.choices[0].message.content
    assert base.choices[0].message.content.startswith(cut.choices[0].message.content)

    sampled = [
        oai.chat.completions.create(
            model="smollm2-135m", messages=HI, temperature=1.0, seed=7, max_tokens=8
        )
        .choices[0]
        .message.content
        for _ in range(2)
    ]
    assert sampled[0] == sampled[1]

    three = oai.chat.completions.create(
        model="smollm2-135m", messages=HI, max_tokens=3, extra_body={"ignore_eos": True}
    )
    assert three.usage.completion_tokens == 3
    assert three.choices[0].finish_reason == "length"


def test_logprobs_are_the_model_distribution(oai):
    out = oai.chat.completions.create(
        model="smollm2-135m", messages=HI, logprobs=True, top_logprobs=3, **greedy(max_tokens=8)
    )
    content = out.choices[0].logprobs.content
    assert len(content) == out.usage.completion_tokens
    assert "".join(t.token for t in content) == out.choices[0].message.content
    for t in content:
        assert t.logprob <= 0
        tops = [a.logprob for a in t.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True)
        # greedy: the chosen token is the most likely one
        assert t.top_logprobs[0].token == t.token
        assert bytes(t.bytes).decode("utf-8", "replace") == t.token


def test_completions_endpoint(oai):
    out = oai.completions.create(
        model="smollm2-135m",
        prompt="The capital of France is",
        max_tokens=5,
        temperature=0,
        logprobs=2,
    )
    choice = out.choices[0]
    assert choice.text
    assert choice.logprobs.tokens and len(choice.logprobs.tokens) == out.usage.completion_tokens
    assert all(len(top) == 2 for top in choice.logprobs.top_logprobs)
    streamed = "".join(
        e.choices[0].text
        for e in oai.completions.create(
            model="smollm2-135m",
            prompt="The capital of France is",
            max_tokens=5,
            temperature=0,
            stream=True,
        )
        if e.choices
    )
    assert streamed == choice.text


def test_embeddings_and_models(oai):
    out = oai.embeddings.create(model="smollm2-135m", input=["a red apple", "a green pear"])
    vecs = [d.embedding for d in out.data]
    assert len(vecs) == 2 and len(vecs[0]) == 576  # SmolLM2-135M's hidden size
    for v in vecs:
        assert abs(sum(x * x for x in v) - 1.0) < 1e-3
    floats = oai.embeddings.create(
        model="smollm2-135m", input="a red apple", encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(vecs[0], abs=1e-6)
    ids = [m.id for m in oai.models.list().data]
    assert "smollm2-135m" in ids
