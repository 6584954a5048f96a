"""The task routes (classify, extract, summarize, triage) and their OpenAPI models."""

from __future__ import annotations

import httpx
import jsonschema
import pytest


def test_classify_endpoint(url):
    r = httpx.post(
        url + "/v1/classify",
        json={
            "texts": ["WIN a FREE prize now, click this link!", "Are we still on for lunch?"],
            "labels": ["spam", "ham"],
        },
        timeout=120,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "smollm2-135m" and len(body["results"]) == 2
    for res in body["results"]:
        assert res["label"] in ("spam", "ham")
        assert sum(res["scores"].values()) == pytest.approx(1.0, abs=1e-3)


def test_extract_summarize_triage_endpoints(url):
    ex = httpx.post(
        url + "/v1/extract",
        json={"text": "Invoice from Acme Ltd, total 42 EUR.", "schema": SCHEMA_INVOICE},
        timeout=120,
    )
    assert ex.status_code == 200, ex.text
    jsonschema.validate(ex.json()["results"][0]["value"], SCHEMA_INVOICE)

    summ = httpx.post(
        url + "/v1/summarize",
        json={
            "text": "The city council met on Monday. It approved a new bike lane on Main "
            "Street. Work starts in May and ends in August.",
            "type": "headline",
            "length": "short",
        },
        timeout=120,
    )
    assert summ.status_code == 200, summ.text
    headline = summ.json()["summary"]["text"]
    assert headline and len(headline.split()) <= 10

    tri = httpx.post(
        url + "/v1/triage",
        json={
            "emails": [
                {"id": "1", "subject": "Server down", "from": "ops@x.example", "body": "Fix now."},
                {"subject": "Your receipt", "from": "shop@x.example", "body": "Thanks."},
            ]
        },
        timeout=120,
    )
    assert tri.status_code == 200, tri.text
    results = tri.json()["results"]
    assert [r["id"] for r in results] == ["1", "2"]
    assert results[0]["from"] == "ops@x.example"
    assert all(r["label"] in ("urgent", "task", "notification", "needs_human") for r in results)


SCHEMA_INVOICE = {
    "type": "object",
    "properties": {"vendor": {"type": "string"}, "total": {"type": "number"}},
    "required": ["vendor", "total"],
}


def test_openapi_has_typed_task_models(url):
    spec = httpx.get(url + "/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("ClassifyRequest", "ClassifyResponse", "ExtractRequest", "TriageResponse"):
        assert name in schemas
    assert "labels" in schemas["ClassifyRequest"]["properties"]
