import html
import json
import re

import pytest
from click.testing import CliRunner

from edgewise import catalog
from edgewise.bench import plots
from edgewise.bench.data import load_items
from edgewise.bench.metrics import (
    classification_report,
    field_scores,
    latency_summary,
    percentile,
    rouge_l,
)
from edgewise.bench.plots import text_width
from edgewise.bench.report import table, to_html
from edgewise.bench.runner import resolve_model, short_name, unique_names
from edgewise.bench.verdict import choose, parse_latency_ms
from edgewise.catalog import ResolvedModel
from edgewise.cli.main import cli
from edgewise.errors import InputError


def test_percentiles_interpolate_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert latency_summary([5.0])["p99"] == 5.0


def test_classification_report_counts_misses_and_macro_f1():
    gold = ["a", "a", "b", "b", None]
    pred = ["a", "b", "b", None, "a"]
    rep = classification_report(gold, pred, ["a", "b"])
    assert rep["n"] == 4 and rep["accuracy"] == 0.5
    assert rep["confusion"]["rows"]["b"] == {"a": 0, "b": 1, "(none)": 1}
    # a: P=1 R=.5 F=.667; b: P=.5 R=.5 F=.5
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)


def test_field_scores_normalize_and_compare_numbers():
    gold = [{"total": "9.00", "company": "Book Ta.K"}, {"total": "3", "company": ""}]
    pred = [{"total": 9, "company": "book ta.k "}, None]
    s = field_scores(gold, pred)
    assert s["precision"] == 1.0 and s["recall"] == pytest.approx(2 / 3)


def test_rouge_l():
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("the cat sat", "a dog ran") == 0.0
    # LCS "the cat the mat" = 4 of 6 reference and 5 candidate words
    assert rouge_l("the cat sat on the mat", "the cat and the mat") == pytest.approx(
        2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)
    )


def test_bad_lines_are_reported_with_numbers_and_skipped(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(
        '{"text": "hello", "label": "a"}\n'
        "\n"
        '{"text": "broken\n'
        '["not", "an object"]\n'
        '{"label": "b"}\n'
        '{"subject": "Hi", "body": "there", "label": "b"}\n'
    )
    items, problems = load_items(data, "classify")
    assert [i.line for i in items] == [1]
    assert problems == [
        "line 3: not valid JSON (Unterminated string starting at)",
        "line 4: not a JSON object",
        "line 5: no field 'text'",
        "line 6: no field 'text'",
    ]
    items, _ = load_items(data, "classify", text_field="{subject}\n\n{body}")
    assert [(i.line, i.text, i.gold) for i in items] == [(6, "Hi\n\nthere", "b")]
    with pytest.raises(InputError, match="no usable records"):
        load_items(data, "generate")
    with pytest.raises(InputError, match="cannot read"):
        load_items(tmp_path / "missing.jsonl", "classify")


def _report():
    return {
        "created": "2026-11-28 06:00:00",
        "machine": {"cpu": "x", "cores": 2, "memory_bandwidth_gbs": 20.0},
        "task": "classify",
        "settings": {"repeats": 2, "warmup": 1, "pp": 64, "tg": 16, "threads": 1},
        "items": 3,
        "models": [
            {
                "name": "m@Q4_1",
                "format": "gguf Q4_1",
                "load_s": 0.5,
                "peak_rss_mb": 300.0,
                "synthetic": {
                    "pp_tps": {"median": 300.0},
                    "tg_tps": {"median": 100.0},
                    "ttft_ms": {"median": 40.0},
                },
                "decode_of_bound": 0.5,
                "latencies_ms": [10.0, 12.0, 30.0, 11.0, 12.0, 31.0],
                "latency_ms": {"p50": 12.0, "p95": 30.75, "p99": 30.95},
                "items_per_s": {"median": 50.0, "min": 48.0, "max": 52.0},
                "quality": classification_report(["a", "b", "a"], ["a", "b", "b"], ["a", "b"]),
            },
            {"name": "broken", "format": "gguf ?", "error": "cannot load </script>"},
        ],
    }


def test_table_and_html_report():
    rep = _report()
    text = table(rep)
    assert "pp64 t/s" in text and "50.00 ±2.00" in text and "0.667" in text
    assert "error: cannot load" in text
    page = to_html(rep)
    assert page.startswith("<!doctype html>") and page.count("<svg") == 2
    assert "<script" not in page and "http" not in page  # self-contained, offline
    assert "&lt;/script&gt;" in page  # model text is escaped


def test_cli_bad_input_is_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["bench", "-m", "no-such-model", "--pp", "8", "--tg", "0"])
    assert res.exit_code == 1 and res.output.startswith("error:") and "no-such-model" in res.output
    res = runner.invoke(cli, ["bench", "-m", "smollm2-135m", "--task", "classify"])
    assert res.exit_code == 1 and "needs --data" in res.output
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "x", "label": "a"}) + "\n")
    res = runner.invoke(
        cli, ["bench", "-m", "smollm2-135m", "--task", "extract", "--data", str(data)]
    )
    assert res.exit_code == 1 and "needs --schema" in res.output
    res = runner.invoke(
        cli, ["bench", "-m", "smollm2-135m@Q9_9", "--task", "classify", "--data", str(data)]
    )
    assert res.exit_code == 1 and "Q9_9" in res.output
    res = runner.invoke(cli, ["bench", "-m", "smollm2-135m", "--tolerance", "2"])
    assert res.exit_code == 2 and "'--tolerance': 2.0 is not in the range 0<=x<=1" in res.output


# ------------------------------------------------------------------ which model to ship
def _model(name, acc, p95, rss, **extra):
    return {
        "name": name,
        "format": "gguf Q4_K_M",
        "load_s": 0.5,
        "peak_rss_mb": rss,
        "latency_ms": {"p50": p95 * 0.8, "p95": p95, "p99": p95 * 1.1},
        "latencies_ms": [p95 * 0.5, p95 * 0.8, p95],
        "items_per_s": {"median": 1000 / p95, "min": 1000 / p95, "max": 1000 / p95},
        "quality": {"accuracy": acc, "macro_f1": acc} if acc is not None else {},
        **extra,
    }


def _ranked(*models, task="classify"):
    return {
        "created": "2026-11-28 06:00:00",
        "machine": {"cpu": "x", "cores": 2, "memory_bandwidth_gbs": 20.0},
        "task": task,
        "settings": {"repeats": 1, "warmup": 1, "pp": 64, "tg": 16, "threads": None},
        "items": 100,
        "models": list(models),
    }


BIG = _model("qwen2.5-coder-1.5b", 0.92, 1200.0, 1400.0)
MID = _model("qwen2.5-coder-0.5b", 0.915, 450.0, 700.0)
SMALL = _model("smollm2-135m", 0.70, 150.0, 300.0)


def test_verdict_ships_the_fastest_within_the_tolerance_of_the_best():
    v = choose(_ranked(BIG, MID, SMALL))
    assert v["ship"] == "qwen2.5-coder-0.5b"  # 0.005 below the best, 2.7x faster
    assert v["best"] == {"name": "qwen2.5-coder-1.5b", "quality": 0.92}
    assert v["text"] == (
        "Ship qwen2.5-coder-0.5b: accuracy 0.92 on 100 items, p95 450 ms, 700 MB peak RSS; "
        "the fastest within 0.01 of the best accuracy (0.92, qwen2.5-coder-1.5b)."
    )
    assert choose(_ranked(BIG, MID, SMALL), tolerance=0.0)["ship"] == "qwen2.5-coder-1.5b"
    assert choose(_ranked(BIG, MID, SMALL), tolerance=0.25)["ship"] == "smollm2-135m"
    # the order given does not matter; a tie on p95 goes to the smaller footprint
    assert choose(_ranked(SMALL, MID, BIG))["ship"] == "qwen2.5-coder-0.5b"
    twin = _model("qwen2.5-coder-0.5b@Q8_0", 0.915, 450.0, 900.0)
    assert choose(_ranked(twin, MID))["ship"] == "qwen2.5-coder-0.5b"
    v = choose(_ranked(BIG, SMALL))
    assert v["ship"] == "qwen2.5-coder-1.5b" and "the best accuracy, and no model" in v["text"]


def test_verdict_constraints_filter_before_quality():
    v = choose(_ranked(BIG, MID, SMALL), max_latency_ms=1000.0)
    assert v["ship"] == "qwen2.5-coder-0.5b" and v["over_limits"] == ["qwen2.5-coder-1.5b"]
    assert v["text"].endswith("; over p95 ≤ 1 s: qwen2.5-coder-1.5b.")
    v = choose(_ranked(BIG, MID, SMALL), max_memory_mb=512.0)
    assert v["ship"] == "smollm2-135m" and v["over_limits"] == [
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-0.5b",
    ]
    # best among those that fit: 0.70, so the band is measured from there, not from 0.92
    assert v["best"] == {"name": "smollm2-135m", "quality": 0.70}
    v = choose(_ranked(BIG, MID, SMALL), max_latency_ms=100.0, max_memory_mb=2048.0)
    assert v["ship"] is None and v["closest"] == "smollm2-135m"
    assert v["text"] == (
        "Nothing ships: no model meets p95 ≤ 100 ms and peak RSS ≤ 2 GB. The closest is "
        "smollm2-135m: accuracy 0.70 on 100 items, p95 150 ms, 300 MB peak RSS."
    )
    # closest: the smallest worst overshoot (MID: 1.5x on latency, BIG: 4x)
    v = choose(_ranked(BIG, MID), max_latency_ms=300.0)
    assert v["ship"] is None and v["closest"] == "qwen2.5-coder-0.5b"


def test_verdict_without_quality_errors_or_task():
    broken = {"name": "broken", "format": "gguf ?", "error": "cannot load"}
    v = choose(_ranked(broken, BIG))
    assert v["ship"] == "qwen2.5-coder-1.5b"
    assert choose(_ranked(broken))["text"] == "No verdict: no model finished the run."
    v = choose(_ranked(_model("a", None, 900.0, 300.0), _model("b", None, 400.0, 600.0)))
    assert v["ship"] == "b" and "quality not measured" in v["text"]
    fast = {"name": "fast", "peak_rss_mb": 900.0, "synthetic": {"tg_tps": {"median": 80.0}}}
    slow = {"name": "slow", "peak_rss_mb": 300.0, "synthetic": {"tg_tps": {"median": 20.0}}}
    v = choose(_ranked(fast, slow, task=None), max_memory_mb=512.0)
    assert v["ship"] is None and v["closest"] == "slow"
    assert v["text"].startswith("No verdict: no quality measured (run with --task and --data)")


def test_parse_latency():
    assert parse_latency_ms("250") == 250.0 and parse_latency_ms("250ms") == 250.0
    assert parse_latency_ms("1.5s") == 1500.0 and parse_latency_ms(" 2 S ") == 2000.0
    for bad in ("fast", "0", "-5", "nan", "1e3", "5 min", ""):
        with pytest.raises(InputError, match="--max-latency"):
            parse_latency_ms(bad)


# ------------------------------------------------------------------ names and the page
def test_short_names_never_show_a_path(tmp_path, gguf_writer):
    entry = catalog.get("smollm2-135m")
    gguf = tmp_path / "models" / "my-finetune.gguf"
    assert short_name("smollm2", ResolvedModel("x", gguf, entry, "Q4_1", "bundled")) == (
        "smollm2-135m"
    )
    assert short_name("SmolLM2-135M:q8_0", ResolvedModel("x", gguf, entry, "Q8_0", "derived")) == (
        "smollm2-135m@Q8_0"
    )
    assert short_name(str(gguf), ResolvedModel("x", gguf)) == "my-finetune"
    assert short_name("mine", ResolvedModel("x", gguf, None, None, "registered")) == "mine"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = gguf_writer(tmp_path / "a" / "model.gguf")
    b = gguf_writer(tmp_path / "b" / "model.gguf")
    models = [resolve_model(str(a)), resolve_model(str(b))]
    assert [m.name for m in models] == ["model", "model"]
    assert unique_names([m.name for m in models], [m.load for m in models]) == [
        "a/model",
        "b/model",
    ]
    assert unique_names(["m", "m", "n"], ["/x/m.gguf", "/x/m.gguf", "/y/n.gguf"]) == [
        "x/m (1)",
        "x/m (2)",
        "n",
    ]


def _visible(page):
    """The page without its raw-JSON appendix and without attribute values."""
    body = page.split("<details>")[0]
    return re.sub(r'"[^"]*"', '""', body)


def test_html_page_has_verdict_table_and_short_names():
    rep = _ranked(BIG, MID, SMALL, {"name": "broken", "format": "gguf ?", "error": "x </script>"})
    for m in rep["models"]:
        m["path"] = f"/home/someone/.edgewise/models/{m['name']}.gguf"
    rep["verdict"] = choose(rep, max_latency_ms=1000.0)
    page = to_html(rep)
    visible = _visible(page)
    assert "/home/someone" not in visible and "/home/someone" in page  # paths only in raw JSON
    assert "<pre" not in visible  # the summary is a table, not preformatted text
    # the verdict comes first, then the summary table with one row per model
    verdict = page.index('class="verdict"')
    assert verdict < page.index('<table class="summary">')
    assert "<strong>Ship qwen2.5-coder-0.5b</strong>: accuracy 0.92" in page
    assert "Limits: p95 ≤ 1 s (--max-latency). Here one item moves accuracy by 0.01." in page
    summary = page.split('<table class="summary">')[1].split("</table>")[0]
    assert summary.count("<tr") == 2 + 4  # two heading rows
    ship = r'<tr class="ship"><td class="name"><span [^>]*></span>qwen2.5-coder-0.5b<span '
    assert re.search(ship + r'class="fmt">gguf Q4_K_M<span class="badge ship">ship</span>', summary)
    over = r'<tr class="over"><td class="name"><span [^>]*></span>qwen2.5-coder-1.5b<span '
    assert re.search(over + r'class="fmt">gguf Q4_K_M<span class="badge over">', summary)
    assert '<td class="over">1,200</td>' in summary  # p95 over --max-latency is flagged
    assert 'class="err">error: x &lt;/script&gt;</td>' in summary
    assert "<script" not in page and "http" not in page  # self-contained, offline
    # a report written without a verdict (library use) gets the default rule's
    del rep["verdict"]
    assert "<strong>Ship qwen2.5-coder-0.5b</strong>" in to_html(rep)


def _label_boxes(svg):
    labels = re.findall(r'<text class="label" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]+)</text>', svg)
    return [
        (
            html.unescape(t),
            (float(x), float(y) - 11, float(x) + text_width(html.unescape(t)), float(y) + 3),
        )
        for x, y, t in labels
    ]


def _intersect(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_scatter_labels_do_not_collide():
    # four models on one spot, two more a hair apart, long names
    crowd = [_model(f"qwen2.5-coder-1.5b@Q{k}_K_M", 0.9, 1000.0, 1000.0) for k in range(2, 6)]
    near = [
        _model("smollm2-135m", 0.5, 300.0, 300.0),
        _model("smollm2-135m@Q8_0", 0.5, 305.0, 320.0),
    ]
    edge = [_model("gemma3-270m", 0.51, 2000.0, 400.0)]  # rightmost: labels must stay inside
    rep = _ranked(*crowd, *near, *edge)
    svg = plots.scatter(rep, choose(rep))
    boxes = _label_boxes(svg)
    assert sorted(t for t, _ in boxes) == sorted(m["name"] for m in rep["models"])
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1 :]:
            assert not _intersect(a, b), (ta, tb)
    width = float(re.search(r'viewBox="0 0 ([\d.]+)', svg).group(1))
    assert all(0 <= b[0] and b[2] <= width for _, b in boxes)
    markers = [
        (float(x), float(y))
        for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="6"', svg)
    ]
    for _, b in boxes:  # no label covers a marker
        for x, y in markers:
            assert not _intersect(b, (x - 6, y - 6, x + 6, y + 6))
    assert svg.count("<line") > svg.count("stroke-dasharray") + 10  # leader lines for stacked ones


def test_place_labels_stacks_coincident_points():
    bounds = plots.Box(0, 0, 400, 300)
    labels = plots.place_labels([(200.0, 150.0)] * 8, [f"model-{k}" for k in range(8)], bounds)
    for i, a in enumerate(labels):
        assert a.box.inside(bounds)
        for b in labels[i + 1 :]:
            assert not a.box.overlaps(b.box)
    assert plots.nice_ticks(3491) == [0, 1000, 2000, 3000, 4000]
    assert plots.nice_span(0.333, 0.94)[0] == 0.2 and plots.nice_span(0.333, 0.94)[-1] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-latency", "fast"], "--max-latency 'fast' is not a latency"),
        (["--max-latency", "0"], "--max-latency must be positive"),
        (["--max-latency", "-5"], "--max-latency '-5' is not a latency"),
        (["--max-memory", "lots"], "--max-memory: not a size: 'lots'"),
        (["--max-memory", "0"], "--max-memory: a size must be positive"),
        (["--max-latency", "500", "--task", None], "--max-latency limits the p95 latency"),
    ],
)
def test_cli_bad_limits_are_one_line(tmp_path, monkeypatch, args, message):
    import edgewise.bench.runner as runner

    monkeypatch.setattr(runner, "bench", lambda *a, **k: pytest.fail("ran a model"))
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "x", "label": "a"}) + "\n")
    task = ["--task", "classify", "--data", str(data)]
    if args[-1] is None:
        args, task = args[:-2], []
    res = CliRunner().invoke(cli, ["bench", "-m", "smollm2-135m", *task, *args])
    assert res.exit_code == 1, res.output
    assert res.output.startswith(f"error: {message}") and res.output.count("\n") == 1


def test_cli_prints_and_writes_the_verdict(tmp_path, monkeypatch):
    import edgewise.bench.runner as runner

    seen = {}

    def fake_bench(models, **kw):
        seen["models"] = models
        return _ranked(BIG, MID, SMALL)

    monkeypatch.setattr(runner, "bench", fake_bench)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "x", "label": "a"}) + "\n")
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    args = ["bench", "-m", "a,b,c", "--task", "classify", "--data", str(data)]
    args += ["--max-latency", "0.4s", "--max-memory", "1G", "--json", str(out_json)]
    args += ["--html", str(out_html)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    line = (
        "Ship smollm2-135m: accuracy 0.70 on 100 items, p95 150 ms, 300 MB peak RSS; the best "
        "accuracy, and no model within 0.01 of it is faster; over p95 ≤ 400 ms and peak RSS "
        "≤ 1 GB: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b."
    )
    assert res.output.rstrip("\n").endswith("\n\n" + line)
    verdict = json.loads(out_json.read_text())["verdict"]
    assert verdict["ship"] == "smollm2-135m" and verdict["text"] == line
    assert verdict["max_latency_ms"] == 400.0 and verdict["max_memory_mb"] == 1024.0
    assert html.escape(line[len("Ship smollm2-135m") :]) in out_html.read_text()
