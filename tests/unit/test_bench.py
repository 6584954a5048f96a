import json

import pytest
from click.testing import CliRunner

from edgewise import catalog
from edgewise.bench.data import load_items
from edgewise.bench.metrics import (
    classification_report,
    field_scores,
    latency_summary,
    percentile,
    rouge_l,
)
from edgewise.bench.report import table, to_html
from edgewise.bench.runner import resolve_model, short_name, unique_names
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
