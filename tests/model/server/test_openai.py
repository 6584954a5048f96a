"""edgewise serve on the real bundled model, driven by the official openai and ollama clients
over a real socket (one uvicorn server for the session)."""

from __future__ import annotations

import json
import time

import httpx
import jsonschema
import ollama
import openai
import pytest

from edgewise.server.app import BackgroundServer, create_app
from edgewise.server.settings import ServerSettings

from ..speech import Script, recorded

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
HI = [{"role": "user", "content": "Say hello to Ada in one short sentence."}]


@pytest.fixture(scope="session")
def server(engine):
    app = create_app(ServerSettings(timeout=120), engine=engine)
    with BackgroundServer(app) as url:
        yield url, app


@pytest.fixture(scope="session")
def url(server):
    return server[0]


@pytest.fixture(scope="session")
def pool(server):
    return server[1].state.edgewise.pool


@pytest.fixture(scope="session")
def oai(url):
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    yield client
    client.close()


@pytest.fixture(scope="session")
def oll(url):
    client = ollama.Client(host=url)
    yield client
    client._client.close()


def greedy(**kw):
    return {"temperature": 0, "max_tokens": 12, **kw}


# ------------------------------------------------------------------ OpenAI
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


# ------------------------------------------------------------------ Ollama
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


# ------------------------------------------------------------------ tasks
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


# ------------------------------------------------------------------ bad input
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


# ------------------------------------------------------------------ scheduler on the model
def test_requests_sharing_a_system_prompt_reuse_its_evaluation(oai):
    system = (
        "You are the help desk assistant of the Example Library. Opening hours are 9 to 17 "
        "on weekdays and 10 to 14 on Saturdays. Loans last three weeks and can be renewed "
        "twice online. Answer in one short sentence."
    )
    outs = []
    for question in ("When do you open on Saturday?", "How long is a loan?", "Can I renew?"):
        outs.append(
            oai.chat.completions.create(
                model="smollm2-135m",
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": question},
                ],
                **greedy(max_tokens=4),
            )
        )
    system_tokens = 50  # the system prompt alone is about 60 tokens
    for out in outs[1:]:
        cached = out.usage.prompt_tokens_details.cached_tokens
        assert cached >= system_tokens
        evaluated = out.usage.prompt_tokens - cached
        assert evaluated < 20  # only the question and the template around it


def test_client_disconnect_stops_the_generation(url, pool, oai):
    before = len(pool.history)
    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        json={
            "model": "smollm2-135m",
            "messages": HI,
            "stream": True,
            "max_tokens": 3000,
            "ignore_eos": True,
        },
        timeout=60,
    ) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
        assert any(line.startswith("data: ") for line in got)
    # the worker notices at its next token; wait for the record (not a speed assertion: a
    # generation that ran on would take minutes and the wait would time out)
    deadline = time.monotonic() + 60
    while len(pool.history) == before or pool.models["smollm2-135m"].busy:
        assert time.monotonic() < deadline, "generation still running after the disconnect"
        time.sleep(0.05)
    record = pool.history[-1]
    assert record["stopped"] == "disconnect"
    assert record["chunks"] < 3000
    after = oai.chat.completions.create(model="smollm2-135m", messages=HI, max_tokens=2)
    assert after.choices[0].message.content is not None


def test_metrics_are_prometheus_text(url, oai):
    oai.chat.completions.create(model="smollm2-135m", messages=HI, **greedy(max_tokens=4))
    text = httpx.get(url + "/metrics").text
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE "))
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples['edgewise_requests_total{code="200",route="/v1/chat/completions"}'] >= 1
    assert samples['edgewise_generated_tokens_total{model="smollm2-135m"}'] >= 4
    assert samples['edgewise_tokens_per_second{model="smollm2-135m"}'] > 0
    assert samples['edgewise_queue_depth{model="smollm2-135m"}'] == 0
    assert samples["edgewise_models_loaded"] == 1
    assert "# TYPE edgewise_request_seconds summary" in text


# ------------------------------------------------------------------ the playground page
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    import shutil

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    yield driver
    driver.quit()


def test_playground_chat_classify_extract_in_chromium(url, browser, oai):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 120)
    browser.get(url + "/")
    wait.until(lambda d: Select(d.find_element(By.ID, "model")).first_selected_option.text)
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.text == "smollm2-135m"

    # chat: type, submit, see the streamed answer and the speed
    prompt = "Say hello to Ada in one short sentence."
    for field, value in (("chat-max", "8"), ("chat-temp", "0")):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "chat-input").send_keys(prompt)
    browser.find_element(By.ID, "chat-send").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "stats"), "tokens/s"))
    answer = browser.find_elements(By.CSS_SELECTOR, "#chat-log .msg.assistant")[-1].text
    expected = oai.chat.completions.create(
        model="smollm2-135m",
        messages=[{"role": "user", "content": prompt}],
        temperature=0,
        max_tokens=8,
    )
    assert answer == expected.choices[0].message.content.strip()
    assert "latency" in browser.find_element(By.ID, "stats").text

    # classify
    browser.find_element(By.ID, "tab-classify").click()
    labels = browser.find_element(By.ID, "classify-labels")
    labels.clear()
    labels.send_keys("spam, ham")
    browser.find_element(By.ID, "classify-input").send_keys("WIN a FREE prize now, click!")
    browser.find_element(By.ID, "classify-send").click()
    wait.until(ec.presence_of_element_located((By.ID, "classify-label")))
    label = browser.find_element(By.ID, "classify-label").text
    assert label.split()[0] in ("spam", "ham")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#classify-result .bar")) == 2

    # extract with the schema shown on the page
    browser.find_element(By.ID, "tab-extract").click()
    schema = json.loads(browser.find_element(By.ID, "extract-schema").get_attribute("value"))
    browser.find_element(By.ID, "extract-input").send_keys("Invoice from Acme Ltd: total 12 EUR.")
    browser.find_element(By.ID, "extract-send").click()
    wait.until(lambda d: d.find_element(By.ID, "extract-result").text.strip())
    jsonschema.validate(json.loads(browser.find_element(By.ID, "extract-result").text), schema)
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None

    # a bad schema is reported on the page, not thrown away
    box = browser.find_element(By.ID, "extract-schema")
    box.clear()
    box.send_keys('{"type": "string", "pattern": "(?!x)y"}')
    browser.find_element(By.ID, "extract-send").click()
    wait.until(ec.visibility_of_element_located((By.ID, "error")))
    assert "lookaround" in browser.find_element(By.ID, "error").text


def test_edgewise_serve_command_serves_a_model_given_by_path(tmp_path):
    """The CLI end to end: a GGUF path chosen by the operator is loaded at start and named by
    its stem; requests still cannot name paths."""
    import os
    import socket
    import subprocess
    import sys

    from edgewise.bundled import smollm2_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-c", "from edgewise.cli.main import main; main()", "serve"]
    cmd += ["--port", str(port), "--model", str(smollm2_path()), "--n-ctx", "512"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                health = httpx.get(url + "/health", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "edgewise serve did not start"
                time.sleep(0.2)
        stem = smollm2_path().stem
        assert health["models"] == [stem] and health["default_model"] == stem
        ps = httpx.get(url + "/api/ps").json()["models"]
        assert ps[0]["context_length"] == 512 and ps[0]["expires_at"].startswith("2318")
        r = httpx.post(
            url + "/api/generate",
            json={"model": stem, "prompt": "Hi", "stream": False, "options": {"num_predict": 2}},
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["eval_count"] <= 2
        r = httpx.post(url + "/api/show", json={"model": str(smollm2_path())})
        assert r.status_code == 404
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode in (0, 143), out  # uvicorn shuts down, then exits as SIGTERM asks
    assert "Traceback" not in out


# ------------------------------------------------------------------ audio
SPOKEN = (
    "Hi team, a quick note after the planning meeting. "
    "Maria will send the budget report to the finance team by Friday."
)
SPOKEN_SPEECH = Script(SPOKEN, "en-us")  # rendered by tests/data/speech/make.py


@pytest.fixture(scope="session")
def spoken_wav() -> bytes:
    """One short espeak-ng clip for the audio routes, recorded once and committed."""
    return recorded(SPOKEN_SPEECH).read_bytes()


def test_audio_transcriptions_with_the_openai_client(oai, spoken_wav):
    from edgewise.audio.metrics import word_error_rate

    def create(fmt):
        return oai.audio.transcriptions.create(
            model="whisper-1", file=("note.wav", spoken_wav), language="en", response_format=fmt
        )

    # the first request transcribes; the others are the same words in other shapes
    verbose = create("verbose_json")
    assert word_error_rate(SPOKEN, verbose.text) <= 0.15, verbose.text
    assert verbose.language == "en" and 5 < verbose.duration < 12
    assert verbose.segments and verbose.segments[-1].end <= verbose.duration + 0.5
    assert create("json").text == verbose.text
    assert create("text") == verbose.text + "\n"
    srt = create("srt")
    assert srt.startswith("1\n00:00:0") and " --> 00:00:" in srt
    assert "budget report" in srt.lower()


def test_voice_note_endpoint(url, spoken_wav):
    r = httpx.post(
        url + "/v1/voice-note",
        files={"file": ("note.wav", spoken_wav, "audio/wav")},
        data={"language": "en", "reference_date": "2026-11-28"},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    note = r.json()
    assert note["name"] == "note.wav" and note["reference_date"] == "2026-11-28"
    assert "budget report" in note["transcript"]["text"].lower()
    assert note["transcript"]["model"] == "tiny.en"
    items = [i for i in note["action_items"] if "budget report" in i["what"].lower()]
    assert items, note["action_items"]
    assert items[0]["who"] == "Maria" and items[0]["when"] == "2026-12-04"  # Friday after
    assert isinstance(note["summary"], list)
    schema = httpx.get(url + "/openapi.json").json()["components"]["schemas"]
    assert {"VoiceNote", "Transcript", "ActionItem"} <= set(schema)


def test_a_non_audio_upload_gets_400_and_the_server_goes_on(oai, url, spoken_wav):
    with pytest.raises(openai.BadRequestError) as err:
        oai.audio.transcriptions.create(model="whisper-1", file=("notes.txt", b"just some text"))
    assert "not an audio file" in err.value.body["message"]
    r = httpx.post(
        url + "/v1/audio/transcriptions",
        files={"file": ("cut.wav", spoken_wav[:44], "audio/wav")},  # header, no samples
        data={"model": "tiny.en"},
    )
    assert r.status_code == 400 and "no audio samples" in r.json()["error"]["message"]
