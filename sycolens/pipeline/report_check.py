"""`python -m sycolens.pipeline.report_check REPORT`: open a report in headless Chromium and
fail on any JavaScript error or any figure or view that did not draw.

A copy of the page gets a first script that records every uncaught error, rejected promise
and `console.error`, and a last one that writes them into the DOM once the page has loaded;
Chromium (`--dump-dom`, with virtual time so plotly and circuitsvis finish rendering) prints
that DOM. The recorded errors are read back from it, and every plotly figure of the page must
have drawn (`js-plotly-plot`) and every circuitsvis view still be in the page (a view nested in
another by malformed HTML is wiped when that one draws, without any error). Needs Debian's
`chromium` (or `--browser`).
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
    "const __consoleError=console.error;console.error=(...a)=>{"
    "__sycolensErrors.push('console.error: '+a.join(' '));__consoleError(...a)};"
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


def page_problems(report: Path, browser: str, *, timeout: float = 120) -> list[str]:
    """Returns what went wrong while `browser` loaded and rendered `report`: JavaScript errors,
    plotly figures that did not draw and circuitsvis views that vanished."""
    if not report.is_file():
        raise FileNotFoundError(f"{report} does not exist. Fix: run `make demo` first.")
    page = report.read_text(encoding="utf-8")
    if "<head>" not in page or "</body>" not in page:
        raise ValueError(
            f"{report} is not an HTML page with <head> and </body>. Fix: pass a report that "
            "`python -m sycolens.pipeline` wrote."
        )
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
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    found = re.search(r'data-js-errors="([^"]*)"', done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(
            f"{browser} did not finish loading {report} (exit {done.returncode}, no error "
            f"record in the DOM it printed). Fix: check the browser runs headless; its "
            f"stderr ends: {done.stderr[-500:]}"
        )
    problems = list(json.loads(html.unescape(found.group(1))))
    figures, drawn = page.count('class="plotly-graph-div"'), done.stdout.count("js-plotly-plot")
    if drawn < figures:
        problems.append(f"{figures - drawn} of {figures} plotly figures did not draw")
    views = set(re.findall(r'<div id="(circuits-vis-[^"]+)"', page))
    lost = sorted(view for view in views if view not in done.stdout)
    if lost:
        problems.append(f"{len(lost)} of {len(views)} circuitsvis views vanished: {lost}")
    return problems


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sycolens.pipeline.report_check")
    parser.add_argument("report", type=Path)
    parser.add_argument("--browser", help="Chromium executable (default: found on PATH)")
    args = parser.parse_args(argv)
    browser = args.browser or find_browser()
    if browser is None:
        parser.error("no Chromium found. Fix: apt-get install chromium, or pass --browser.")
    problems = page_problems(args.report, browser)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{args.report}: {len(problems)} problems in {browser}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
