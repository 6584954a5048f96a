"""`edgewise bench` end to end on the bundled model (each model in its own worker process)."""

import json
import shutil

import pytest
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
    assert [m["name"] for m in report["models"]] == ["smollm2-135m", "smollm2-135m@Q4_0"]
    assert [m["format"] for m in report["models"]] == ["gguf Q4_1", "gguf Q4_0"]
    verdict = report["verdict"]
    assert verdict["ship"] in ("smollm2-135m", "smollm2-135m@Q4_0")
    assert verdict["text"].startswith(f"Ship {verdict['ship']}: accuracy ")
    assert verdict["text"] in res.output
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
    assert f"<strong>Ship {verdict['ship']}</strong>" in page


def test_bench_synthetic_only():
    res = CliRunner().invoke(cli, ["bench", "-m", "smollm2-135m", "--pp", "16", "--tg", "4"])
    assert res.exit_code == 0, res.output
    assert "pp16 t/s" in res.output and "gguf Q4_1" in res.output


# ------------------------------------------------------------------ the report in a browser
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
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


def _model(name, acc, p95, rss):
    return {
        "name": name,
        "path": f"/home/someone/.edgewise/models/{name}.gguf",
        "format": "gguf Q4_K_M",
        "load_s": 0.5,
        "peak_rss_mb": rss,
        "synthetic": {"pp_tps": {"median": 300.0}, "tg_tps": {"median": 40.0}},
        "latency_ms": {"p50": p95 * 0.8, "p95": p95, "p99": p95 * 1.1},
        "latencies_ms": [p95 * 0.5, p95 * 0.8, p95],
        "items_per_s": {"median": 1000 / p95, "min": 900 / p95, "max": 1100 / p95},
        "quality": {"accuracy": acc, "macro_f1": acc},
    }


CROWDED = {
    "created": "2026-11-28 06:00:00",
    "machine": {"cpu": "x", "cores": 2, "memory_bandwidth_gbs": 20.0},
    "task": "classify",
    "settings": {"repeats": 3, "warmup": 2, "pp": 512, "tg": 128, "threads": None},
    "items": 200,
    "models": [
        # four quantizations on one spot, two small models a hair apart, one at the far right
        *(_model(f"qwen2.5-coder-1.5b@Q{k}_K_M", 0.92, 1200.0, 1400.0) for k in range(3, 7)),
        _model("qwen2.5-coder-0.5b", 0.915, 450.0, 700.0),
        _model("smollm2-135m", 0.70, 150.0, 300.0),
        _model("smollm2-135m@Q8_0", 0.70, 152.0, 330.0),
        _model("my-finetune-of-gemma3-270m-for-tickets", 0.80, 2400.0, 450.0),
    ],
}

BOXES = """return [...document.querySelectorAll('svg text.label')].map(t => {
  const b = t.getBBox();
  return [t.textContent, b.x, b.y, b.x + b.width, b.y + b.height];
});"""


@pytest.mark.parametrize("width", [1280, 800])
def test_bench_report_reads_in_chromium(tmp_path, browser, width):
    from selenium.webdriver.common.by import By

    from edgewise.bench.plots import text_width
    from edgewise.bench.report import to_html
    from edgewise.bench.verdict import choose

    report = {**CROWDED, "verdict": choose(CROWDED, max_memory_mb=1024.0)}
    page = tmp_path / "bench.html"
    page.write_text(to_html(report), encoding="utf-8")
    browser.set_window_size(width, 1600)
    browser.get(page.as_uri())
    # the verdict first, as a line of text
    verdict = browser.find_element(By.CSS_SELECTOR, "main > section").text
    assert verdict.startswith("Ship qwen2.5-coder-0.5b: accuracy 0.92 on 200 items, p95 450 ms")
    assert "qwen2.5-coder-1.5b@Q5_K_M and 1 more." in verdict
    # short names only: no path anywhere a reader sees (the raw JSON stays folded)
    assert "/home/someone" not in browser.find_element(By.TAG_NAME, "body").text
    rows = browser.find_elements(By.CSS_SELECTOR, "table.summary:not(.speed) tbody tr")
    names = [r.find_element(By.CSS_SELECTOR, "td.name").text.split("\n")[0] for r in rows]
    assert names == [m["name"] for m in CROWDED["models"]]
    # the page never scrolls sideways; a wide table scrolls inside its own box
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    for box in browser.find_elements(By.CSS_SELECTOR, ".scroll"):
        card = box.find_element(By.XPATH, "./ancestor::section[1]")
        assert box.rect["x"] + box.rect["width"] <= card.rect["x"] + card.rect["width"]
    # scatter labels, as rendered: inside the plot, apart, and no wider than estimated
    labels = browser.execute_script(BOXES)
    assert sorted(t for t, *_ in labels) == sorted(m["name"] for m in CROWDED["models"])
    view_w = browser.execute_script("return document.querySelector('svg').viewBox.baseVal.width")
    for i, (text, x0, y0, x1, y1) in enumerate(labels):
        assert 0 <= x0 and x1 <= view_w, text
        assert x1 - x0 <= text_width(text), text  # the placement's estimate holds
        for other, a0, b0, a1, b1 in labels[i + 1 :]:
            assert x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0, (text, other)
    browser.save_screenshot(str(tmp_path / f"bench-{width}.png"))
