"""`edgewise bench` end to end on the bundled model (each model in its own worker process)."""

import json

from click.testing import CliRunner

from edgewise.cli.main import cli

ITEMS = [
    ("Your parcel has shipped and arrives Tuesday.", "notification"),
    ("Can you send me the signed contract by Friday?", "task"),
    ("Weekly newsletter: ten tips for spring gardening.", "notification"),
    ("Please review the attached draft and reply with comments.", "task"),
]


def test_bench_classify_two_formats_with_reports(tmp_path):
    data = tmp_path / "d.jsonl"
    lines = [json.dumps({"text": t, "label": g}) for t, g in ITEMS] + ["{oops"]
    data.write_text("\n".join(lines) + "\n")
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    args = ["bench", "-m", "smollm2-135m,smollm2-135m@Q4_0", "--task", "classify"]
    args += ["--data", str(data), "--pp", "32", "--tg", "8", "--repeats", "2", "--warmup", "1"]
    args += ["--json", str(out_json), "--html", str(out_html)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 3, res.output  # one bad line, reported, the rest measured
    assert "line 5: not valid JSON" in res.output
    report = json.loads(out_json.read_text())
    assert [m["format"] for m in report["models"]] == ["gguf Q4_1", "gguf Q4_0"]
    for m in report["models"]:
        assert "error" not in m
        assert m["items"] == 4 and len(m["latencies_ms"]) == 8  # 2 repeats x 4 items
        assert 0 < m["peak_rss_mb"] < 2000 and m["load_s"] > 0
        assert m["synthetic"]["pp_tps"]["median"] > 0 and m["synthetic"]["tg_tps"]["median"] > 0
        assert 0 < m["decode_of_bound"] < 2
        q = m["quality"]
        assert q["n"] == 4 and 0 <= q["accuracy"] <= 1
        assert sum(sum(r.values()) for r in q["confusion"]["rows"].values()) == 4
    page = out_html.read_text()
    assert "<svg" in page and "smollm2-135m@Q4_0" in page


def test_bench_synthetic_only():
    res = CliRunner().invoke(cli, ["bench", "-m", "smollm2-135m", "--pp", "16", "--tg", "4"])
    assert res.exit_code == 0, res.output
    assert "pp16 t/s" in res.output and "gguf Q4_1" in res.output
