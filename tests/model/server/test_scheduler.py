"""The scheduler on the model: a shared system prompt, a client that goes, metrics."""

from __future__ import annotations

import time

import httpx

from .helpers import HI, greedy


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
