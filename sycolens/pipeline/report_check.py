"""`python -m sycolens.pipeline.report_check REPORT`: open a report in headless Chromium and
fail on any JavaScript error.

A copy of the page gets a first script that records every uncaught error and rejected
promise, and a last one that writes them into the DOM once the page has loaded; Chromium
(`--dump-dom`, with virtual time so plotly and circuitsvis finish rendering) prints that DOM,
and the recorded errors are read back from it. Needs Debian's `chromium` (or `--browser`).
"""

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

_RECORD_ERRORS = (
    "<script>window.__sycolensErrors=[];"
    "addEventListener('error',e=>__sycolensErrors.push(String(e.message||e.type)));"
    "addEventListener('unhandledrejection',e=>__sycolensErrors.push('rejected: '+e.reason));"
    "</script>"
)
_WRITE_ERRORS = (
    "<script>addEventListener('load',()=>setTimeout(()=>document.body.setAttribute("
    "'data-js-errors',JSON.stringify(__sycolensErrors)),500));</script>"
)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    """Returns the path of an installed Chromium, if any."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def javascript_errors(report: Path, browser: str, *, timeout: float = 120) -> list[str]:
    """Returns the JavaScript errors raised while `browser` loads and renders `report`."""
    page = report.read_text(encoding="utf-8")
    if "<head>" not in page or "</body>" not in page:
        raise ValueError(f"{report} is not an HTML page with <head> and </body>.")
    instrumented = page.replace("<head>", "<head>" + _RECORD_ERRORS, 1).replace(
        "</body>", _WRITE_ERRORS + "</body>", 1
    )
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "report.html"
        copy.write_text(instrumented, encoding="utf-8")
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
            f"--user-data-dir={folder}/profile", "--dump-dom", copy.as_uri(),
        ]  # fmt: skip
        dom = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    found = re.search(r'data-js-errors="([^"]*)"', dom.stdout)
    if found is None:
        raise RuntimeError(
            f"{browser} did not finish loading {report} (no error record in the DOM it printed)."
        )
    return list(json.loads(html.unescape(found.group(1))))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sycolens.pipeline.report_check")
    parser.add_argument("report", type=Path)
    parser.add_argument("--browser", help="Chromium executable (default: found on PATH)")
    args = parser.parse_args(argv)
    browser = args.browser or find_browser()
    if browser is None:
        parser.error("no Chromium found. Fix: apt-get install chromium, or pass --browser.")
    errors = javascript_errors(args.report, browser)
    for error in errors:
        print(f"JavaScript error: {error}")
    print(f"{args.report}: {len(errors)} JavaScript errors in {browser}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
