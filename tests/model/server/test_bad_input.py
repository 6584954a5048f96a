"""Bad requests get 4xx answers in the API's own shape, the server keeps serving, and
model names cannot reach files."""

from __future__ import annotations

import httpx
import ollama
import openai
import pytest

from .helpers import HI


@pytest.mark.parametrize(
    "payload, status",
    [
        ({"model": "smollm2-135m", "messages": []}, 400),
        ({"model": "smollm2-135m", "messages": HI, "temperature": "hot"}, 400),
        ({"model": "smollm2-135m", "messages": HI, "n": 2}, 400),
        ({"model": "smollm2-135m", "messages": [{"role": "wizard", "content": "x"}]}, 400),
        ({"messages": HI}, 400),
        ({"model": "no-such-model", "messages": HI}, 404),
        (
            {
                "model": "smollm2-135m",
                "messages": HI,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "(?=a)a"}},
                },
            },
            400,
        ),
    ],
)
def test_bad_openai_requests_get_4xx_in_openai_shape(url, payload, status):
    r = httpx.post(url + "/v1/chat/completions", json=payload)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert isinstance(err, dict) and err["message"] and err["type"]


def test_malformed_json_context_overflow_and_server_keeps_serving(url, oai, oll):
    r = httpx.post(
        url + "/v1/chat/completions",
        content=b'{"model": "smollm2-135m", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = httpx.post(
        url + "/api/chat", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and isinstance(r.json()["error"], str)

    long = "word " * 6000
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(
            model="smollm2-135m", messages=[{"role": "user", "content": long}], max_tokens=4
        )
    assert err.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=4)
    with pytest.raises(ollama.ResponseError) as oerr:
        oll.chat(model="gpt-4o", messages=HI)
    assert oerr.value.status_code == 404 and "gpt-4o" in oerr.value.error
    with pytest.raises(ollama.ResponseError) as oerr:
        oll.chat(model="smollm2-135m", messages=HI, options={"temperature": "hot"})
    assert oerr.value.status_code == 400
    r = httpx.post(url + "/v1/classify", json={"text": "x", "labels": ["a"]})
    assert r.status_code == 400
    r = httpx.post(url + "/v1/extract", json={"text": "x", "schema": {"not": {}}})
    assert r.status_code == 400 and "not" in r.json()["error"]["message"]

    assert httpx.get(url + "/health").json()["status"] == "ok"
    ok = oai.chat.completions.create(model="smollm2-135m", messages=HI, max_tokens=2)
    assert ok.choices[0].message.content is not None


@pytest.mark.parametrize(
    "name",
    ["../../../etc/passwd", "/etc/passwd", "models.json", "x.gguf", "~/.ssh/id_rsa", "..", "a/b"],
)
def test_model_names_cannot_reach_files(url, name, tmp_path):
    r = httpx.post(url + "/api/chat", json={"model": name, "messages": HI, "stream": False})
    assert r.status_code == 404, r.text
    assert isinstance(r.json()["error"], str)
    r = httpx.post(url + "/v1/chat/completions", json={"model": name, "messages": HI})
    assert r.status_code == 404
    r = httpx.post(url + "/api/show", json={"model": name})
    assert r.status_code == 404


def test_a_gguf_outside_edgewise_home_is_not_reachable_by_its_stem(url, tmp_path):
    import shutil

    from edgewise.bundled import smollm2_path

    outside = tmp_path / "elsewhere" / "secret-model.gguf"
    outside.parent.mkdir()
    shutil.copy(smollm2_path(), outside)
    for name in ("secret-model", str(outside), "elsewhere/secret-model"):
        r = httpx.post(url + "/api/show", json={"model": name})
        assert r.status_code == 404, (name, r.text)
