"""The Ollama routes through the official ollama client."""

from __future__ import annotations

import json

import httpx
import jsonschema

from .helpers import HI, SCHEMA


def test_ollama_chat_and_generate(oll):
    opts = {"temperature": 0, "num_predict": 10, "seed": 1}
    full = oll.chat(model="smollm2-135m", messages=HI, options=opts, stream=False)
    assert full.done and full.done_reason in ("stop", "length")
    assert full.message.role == "assistant" and full.message.content.strip()
    assert 0 < full.eval_count <= 10 and full.prompt_eval_count > 5
    parts = list(oll.chat(model="smollm2-135m:latest", messages=HI, options=opts, stream=True))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.message.content for p in parts) == full.message.content

    gen = list(oll.generate(model="smollm2", prompt="Name a colour.", options=opts, stream=True))
    assert gen[-1].done and "".join(g.response for g in gen).strip()
    raw = oll.generate(
        model="smollm2", prompt="1, 2, 3,", raw=True, options={"temperature": 0, "num_predict": 4}
    )
    assert raw.response and raw.eval_count <= 4


def test_raw_prompts_are_markup_and_chat_contents_are_text(oll, oai, engine):
    """A fully templated raw prompt (Ollama raw, /v1/completions) is read with its special
    tokens, as the chat endpoint renders it; the same markup inside a chat message is text."""
    opts = {"temperature": 0, "num_predict": 8}
    chat = oll.chat(model="smollm2", messages=HI, options=opts, stream=False)
    templated = engine.render(HI)
    raw = oll.generate(model="smollm2", prompt=templated, raw=True, options=opts)
    assert raw.prompt_eval_count == chat.prompt_eval_count
    assert raw.response == chat.message.content
    done = oai.completions.create(
        model="smollm2-135m", prompt=templated, max_tokens=8, temperature=0
    )
    assert done.usage.prompt_tokens == chat.prompt_eval_count
    assert done.choices[0].text == chat.message.content
    # inside a message the same text is plain: many more tokens, and no turn is closed
    inner = oll.chat(
        model="smollm2", messages=[{"role": "user", "content": templated}], options=opts
    )
    assert inner.prompt_eval_count > 2 * chat.prompt_eval_count


def test_ollama_format_json_and_schema(oll):
    out = oll.chat(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "Ada Lovelace was 36. Give her name and age."}],
        format=SCHEMA,
        options={"temperature": 0, "num_predict": 60},
    )
    jsonschema.validate(json.loads(out.message.content), SCHEMA)
    gen = oll.generate(
        model="smollm2-135m",
        prompt="Give a JSON object with a key 'colour'.",
        format="json",
        options={"temperature": 0, "num_predict": 16},
    )
    assert gen.response.startswith("{")


def test_ollama_listings_and_embed(oll):
    names = [m.model for m in oll.list().models]
    assert "smollm2-135m" in names
    running = oll.ps().models
    assert [m.model for m in running] == ["smollm2-135m"]
    assert running[0].details.quantization_level == "Q4_1"
    shown = oll.show("smollm2-135m")
    assert "completion" in shown.capabilities
    assert "<|im_start|>" in shown.template
    emb = oll.embed(model="smollm2-135m", input=["hello", "world"])
    assert len(emb.embeddings) == 2 and len(emb.embeddings[0]) == 576


def test_ollama_version(url):
    body = httpx.get(url + "/api/version").json()
    assert body["version"] and body["edgewise"]
