"""The reviewer's page in a real browser: headless Chromium (Debian's chromium and chromium-driver) through selenium.

Behind the `browser` marker: `make report-test` runs it (scripts/report_test.sh installs the two packages when
missing). For each published study: `rrs check --json`, then `rrs report --verdict`, then the page is opened from
disk and must load with no console error and no request leaving the page, show every figure at a non-zero size,
and show each claim's verdict as the check gave it. A full-page screenshot of each is kept in
$RRS_REPORT_TEST_OUT (default out/report-test/).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rrs.cli import main

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RRS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RRS_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).is_file(), f"{path} missing: apt-get install chromium chromium-driver (make report-test does)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.parametrize("study", ["smoke", "smollm2"])
def test_report_page_in_headless_chromium(browser, tmp_path, capsys, study):
    from selenium.webdriver.common.by import By

    artifact = ROOT / "artifacts" / study
    assert main(["check", str(artifact), "--json", "--report", str(tmp_path / "check.md")]) == 0
    verdict = json.loads(capsys.readouterr().out)
    (tmp_path / "verdict.json").write_text(json.dumps(verdict))
    page = tmp_path / "report.html"
    assert main(["report", str(artifact), "--verdict", str(tmp_path / "verdict.json"), "--html", str(page)]) == 0

    browser.get(page.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [r for r in resources if not r.startswith(("data:", "file:"))] == []

    images = browser.find_elements(By.CSS_SELECTOR, "#figures figure img")
    expected = sorted(p.stem for p in (artifact / "figures").glob("*.png"))
    assert sorted(i.get_attribute("alt") for i in images) == expected and expected
    for img in images:
        natural = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
        assert img.size["width"] > 0 and img.size["height"] > 0 and min(natural) > 0, img.get_attribute("alt")

    claims = verdict["studies"][0]["claims"]
    assert claims
    shown = {row.get_attribute("data-claim"): row.find_elements(By.TAG_NAME, "td")[-1].text
             for row in browser.find_elements(By.CSS_SELECTOR, "#claims-table tbody tr")}
    assert shown == {c["id"]: "PASS" if c["ok"] else "FAIL" for c in claims}
    assert browser.find_element(By.ID, "verdict").text == ("PASS" if verdict["studies"][0]["ok"] else "FAIL")

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height)
    keep = Path(os.environ.get("RRS_REPORT_TEST_OUT", ROOT / "out" / "report-test"))
    keep.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    shutil.copyfile(tmp_path / "report.png", keep / f"{study}.png")
    shutil.copyfile(page, keep / f"{study}.html")
    browser.set_window_size(1280, 900)
