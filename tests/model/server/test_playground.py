"""The playground page in headless Chromium: chat, classify, extract, errors."""

from __future__ import annotations

import json

import jsonschema
import pytest


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
