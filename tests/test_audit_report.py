"""The HTML report in a real headless Chromium (screenshot, rendered DOM) and the Excel workbook.

The browser test needs Chromium (Debian: ``apt-get install -y chromium fonts-noto-cjk``). Without
it the test is skipped locally and fails in CI (``CI`` set), so CI cannot pass silently.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from drg_engine.audit.report import render_html, write_excel, write_html
from tests.test_audit_sample import sample_result

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is required in CI: apt-get install -y chromium fonts-noto-cjk")
    pytest.skip("no Chromium on this machine (apt-get install -y chromium)")


def _run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", header[16:24])


def test_report_is_self_contained() -> None:
    html = render_html(sample_result())
    # No external resource: every src/href is an in-page anchor.
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert references and all(ref.startswith("#") for ref in references)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    for section in ("summary", "notices", "charts", "rules", "hospitals", "cases", "exempted",
                    "data-quality", "rule-docs", "parameters"):
        assert f'<section id="{section}">' in html


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _browser()
    result = sample_result()
    report = tmp_path / "audit.html"
    write_html(result, report)
    dom = _run_browser(browser, tmp_path / "profile-dom", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    for chart in ("chart-findings-by-hospital", "chart-rate-vs-peers", "chart-monthly-trend"):
        assert re.search(rf'<svg id="{chart}"[^>]*>.*?<(rect|circle)', rendered, re.S), chart
    rules_rows = re.search(r'<table id="rules-table">.*?<tbody>(.*?)</tbody>', rendered, re.S)
    assert rules_rows and rules_rows.group(1).count("<tr>") == len(result.registry.rules)
    hospital_rows = re.search(r'<table id="hospitals-table">.*?<tbody>(.*?)</tbody>', rendered,
                              re.S)
    assert hospital_rows and hospital_rows.group(1).count("<tr>") == result.hospitals.num_rows
    cases = re.findall(r'<details class="case"', rendered)
    assert len(cases) == min(500, result.open_findings.num_rows)
    assert re.search(r'<details class="case" open="', rendered), "first case opens expanded"
    assert 'class="cal"' in rendered and 'id="case-count"' in rendered

    shot = tmp_path / "audit.png"
    run = _run_browser(browser, tmp_path / "profile-shot", f"--screenshot={shot}",
                       "--window-size=1400,2000", report.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 50_000  # a blank page is a few kB
    assert _png_size(shot) == (1400, 2000)


def test_excel_workbook(tmp_path: Path) -> None:
    result = sample_result()
    target = tmp_path / "findings.xlsx"
    write_excel(result, target)
    with zipfile.ZipFile(target) as book:
        workbook = book.read("xl/workbook.xml").decode("utf-8")
        sheets = re.findall(r'<sheet name="([^"]+)"', workbook)
        assert sheets == ["Summary", "Rules", "Hospitals", "Findings", "Exempted", "DataQuality",
                          "Parameters", "RuleDocs"]
        findings_sheet = book.read("xl/worksheets/sheet4.xml").decode("utf-8")
        assert findings_sheet.count("<row ") == result.open_findings.num_rows + 1
