"""The explorer page under hostile labels: no script of theirs may run, every text shows literally.

Pages are built the way a user builds them (`hourglass explore` on a CSV label column or an image folder's
sub-folder names, `hourglass serve`) and opened in headless Chromium. Any dialog (alert, confirm, prompt) is
proof that injected script ran and fails the test, as does any console error or uncaught page error.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_explorer_browser import CHROMIUM, EX, FLAGS, require_browser, wait_until

import hourglass as hg
from hourglass.cli import main
from hourglass.data import load_dataset
from hourglass.estimator import Autoencoder
from hourglass.explorer import render_page
from hourglass.explorer.page import script_json

LONG = "long " * 1000 + "<img src=x onerror=alert(6)>"
HOSTILE = [
    '"><img src=x onerror=alert(3)>',
    "</script><script>alert(1)</script>",
    "javascript:alert(1)",
    "line\u2028separator\u2029paragraph",
    "<!--<script>alert(2)//",
    "<svg onload=alert(4)>",
    "'; alert(5); '",
    "&lt;b&gt; &amp; &#60;i&#62;",
    "${alert(7)} `backtick`",
    LONG,
]
# A folder name cannot hold "/" and is at most 255 bytes.
FOLDER_NAMES = [name[:200] for name in HOSTILE if "/" not in name]
DIALOG_CHECK = "window.__hgViolations"
# Recorded before any page script runs (Playwright's init scripts are exempt from the page's CSP).
RECORD_VIOLATIONS = (
    "window.__hgViolations = [];"
    "document.addEventListener('securitypolicyviolation', (e) => window.__hgViolations.push(e.violatedDirective));"
)


@contextlib.contextmanager
def guarded_page(url: str, *, console_errors_allowed: bool = False):
    """Chromium on ``url``; yields (page, dialogs). Any dialog fails the test, and so do page errors and (unless
    allowed) console errors."""
    require_browser()
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")  # injected script ran
        dialog.dismiss()

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1366, "height": 768}
        )
        try:
            context.add_init_script(RECORD_VIOLATIONS)
            page = context.new_page()
            page.on("dialog", on_dialog)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
            page.goto(url)
            wait_until(page, f"{EX} !== undefined && {EX}.state !== undefined")
            yield page, dialogs
            time.sleep(0.3)  # an onerror or onload fires asynchronously
            assert not dialogs, f"script injected through the data ran: {dialogs}"
            if console_errors_allowed:
                errors = [e for e in errors if e.startswith("pageerror")]
            assert not errors, errors
        finally:
            context.close()


def page_data(page_html: str) -> dict:
    """The page's embedded data, parsed strictly: NaN or Infinity in it fails."""
    block = re.search(r'<script type="application/json" id="hg-data">(.*?)</script>', page_html, re.S).group(1)
    return json.loads(block, parse_constant=lambda name: pytest.fail(f"the page's JSON holds a bare {name}"))


def click_every_dot(page, labels: list[str]) -> set[str]:
    """Hover and click each dot; the selection line must show the clicked dot's label as plain text."""
    shown = set()
    for i in range(page.evaluate(f"{EX}.n")):
        x, y = page.evaluate(f"{EX}.dotScreen({i})")
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        picked = page.evaluate(f"{EX}.state.selected.at(-1)")  # the nearest dot: usually i itself
        wait_until(page, f"document.getElementById('selection').textContent.startsWith('row {picked} ')")
        text = page.text_content("#selection")
        assert f"label {labels[picked]} \u00b7 error" in text, (labels[picked][:80], text[:300])
        shown.add(labels[picked])
    return shown


def assert_no_foreign_elements(page) -> None:
    """Nothing the data named became an element: the page's own two scripts and no images or SVG at all."""
    counts = page.evaluate(
        "[document.scripts.length, document.querySelectorAll('img, svg, iframe, object, embed, a').length]"
    )
    assert counts == [2, 0], counts
    assert page.evaluate(f"{DIALOG_CHECK}.length") == 0, page.evaluate(DIALOG_CHECK)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A table model and a CSV whose label column and one column name are hostile; returns (folder, labels)."""
    root = tmp_path_factory.mktemp("hostile-table")
    rng = np.random.default_rng(0)
    columns = ["a", "b", "<img src=x onerror=alert(8)>", "d"]
    frame = pd.DataFrame(rng.normal(size=(2 * len(HOSTILE), 4)) * [1, 2, 3, 4], columns=columns)
    Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(frame).save(root / "model")
    labels = HOSTILE * 2
    frame.assign(label=labels).to_csv(root / "data.csv", index=False)
    return root, labels


def test_csv_labels_show_literally_and_run_nothing(table_run, tmp_path):
    root, labels = table_run
    out = tmp_path / "explorer.html"
    assert main(["explore", str(root / "model"), str(root / "data.csv"), "--label", "label", "-o", str(out)]) == 0
    assert page_data(out.read_text())["labels"]["names"] == sorted(set(HOSTILE))
    with guarded_page(out.resolve().as_uri()) as (page, _):
        legend = page.text_content("#legend")
        assert all(label in legend for label in HOSTILE)
        assert click_every_dot(page, labels) == set(HOSTILE)
        assert_no_foreign_elements(page)


def test_image_folder_names_show_literally_and_run_nothing(tmp_path):
    rng = np.random.default_rng(1)
    for k, name in enumerate(FOLDER_NAMES):
        (tmp_path / "images" / name).mkdir(parents=True)
        for j in range(2):
            pixels = (rng.random((8, 8)) * 60 + 25 * k).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{j}.png")
    data = load_dataset(tmp_path / "images")
    assert sorted(set(data.y.tolist())) == sorted(FOLDER_NAMES)
    Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(data.X).save(tmp_path / "model")
    out = tmp_path / "explorer.html"
    assert main(["explore", str(tmp_path / "model"), str(tmp_path / "images"), "-o", str(out)]) == 0
    with guarded_page(out.resolve().as_uri()) as (page, _):
        assert click_every_dot(page, [str(v) for v in data.y]) == set(FOLDER_NAMES)
        assert_no_foreign_elements(page)


def _csp_directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


def _check_policy(policy: str, page_html: str, connect: str) -> None:
    directives = _csp_directives(policy)
    scripts = re.findall(r"<script>(.*?)</script>", page_html, re.S)  # the executable ones (no type=)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert directives["script-src"] == [f"'sha256-{digest}'"]  # that script and nothing else, no unsafe-*
    assert "unsafe" not in policy and "*" not in policy and "data:" not in policy
    assert directives["style-src"][0].startswith("'sha256-") and len(directives["style-src"]) == 1
    assert directives["default-src"] == ["'none'"] and directives["connect-src"] == [connect]
    assert directives["base-uri"] == ["'none'"] and directives["form-action"] == ["'none'"]
    assert directives["require-trusted-types-for"] == ["'script'"]


def test_policy_allows_only_the_pages_own_script_by_hash(table_run):
    root, labels = table_run
    model = hg.load(root / "model")
    X = pd.read_csv(root / "data.csv").drop(columns="label")
    page_html = render_page(model, X, labels)
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page_html).group(1)
    _check_policy(policy, page_html, "'none'")
    # No inline handlers or style attributes anywhere in the page's own markup.
    markup = re.sub(r"<(script|style)\b.*?</\1>", "", page_html, flags=re.S)
    assert re.search(r"\son\w+\s*=|\sstyle\s*=|javascript:", markup, re.I) is None


def test_embedded_json_cannot_end_its_script_element():
    values = [*HOSTILE, "a\u2028b", "</SCRIPT >", "<!-- -->", "&amp;"]
    text = script_json({"labels": values})
    assert not re.search("[<>&\u2028\u2029]", text)
    assert json.loads(text) == {"labels": values}


def test_injection_through_the_dom_is_blocked_by_the_policy(table_run, tmp_path):
    """Defense in depth: even code that wrote markup into the page could not run script.

    (Not eval: code run by the test driver may eval whatever the policy; the policy test shows no 'unsafe-eval'.)
    """
    root, _ = table_run
    out = tmp_path / "explorer.html"
    assert main(["explore", str(root / "model"), str(root / "data.csv"), "--label", "label", "-o", str(out)]) == 0
    attempts = """() => {
      const sel = document.getElementById('selection'), tries = {
        innerHTML: () => { sel.innerHTML = '<img src=x onerror=alert(11)>'; },
        insertAdjacentHTML: () => sel.insertAdjacentHTML('beforeend', '<img src=x onerror=alert(12)>'),
        fragment: () => sel.append(document.createRange().createContextualFragment('<img src=x onerror=alert(13)>')),
        handlerAttribute: () => { const i = document.createElement('img'); i.setAttribute('onerror', 'alert(14)');
                                  i.src = 'x'; sel.append(i); },
        scriptText: () => { const s = document.createElement('script'); s.textContent = 'alert(15)';
                            document.body.append(s); },
        javascriptUrl: () => { location.href = 'javascript:alert(17)'; },
      };
      const out = {};
      for (const [name, attempt] of Object.entries(tries)) {
        try { attempt(); out[name] = 'done'; } catch (e) { out[name] = e.name; }
      }
      return out;
    }"""
    with guarded_page(out.resolve().as_uri(), console_errors_allowed=True) as (page, dialogs):
        outcome = page.evaluate(attempts)
        time.sleep(0.5)
        assert not dialogs, (dialogs, outcome)
        # Markup sinks throw (Trusted Types); what got into the DOM anyway had its script refused (CSP).
        assert outcome["innerHTML"] == outcome["insertAdjacentHTML"] == "TypeError", outcome
        assert page.evaluate(f"{DIALOG_CHECK}.length") > 0


def test_missing_labels_are_strict_json_and_show_as_none(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    few = np.where(np.arange(40) % 4 == 0, np.nan, np.arange(40) % 3).astype(float)  # 3 values and blanks
    many = np.linspace(0, 1, 40)
    many[::5], many[1] = np.nan, np.inf  # continuous values with blanks and an infinity
    model = Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(X)
    model.save(tmp_path / "model")
    for column, kind, y in (("few", "category", few), ("many", "number", many)):
        csv = tmp_path / f"{column}.csv"  # NaN becomes a blank cell, inf the text "inf"
        pd.DataFrame(X, columns=["a", "b", "c"]).assign(**{column: y}).to_csv(csv, index=False)
        out = tmp_path / f"{column}.html"
        args = ["explore", str(tmp_path / "model"), str(csv), "--label", column, "-o", str(out)]
        assert main(args) == 0
        labels = page_data(out.read_text())["labels"]
        assert labels["kind"] == kind
        if kind == "category":
            assert labels["names"][-1] is None and labels["values"][0] == len(labels["names"]) - 1
        else:
            assert labels["values"][0] is None and labels["values"][1] is None and labels["values"][2] is not None
        with guarded_page(out.resolve().as_uri()) as (page, _):
            x, y = page.evaluate(f"{EX}.dotScreen(0)")
            page.mouse.click(x, y)
            picked = page.evaluate(f"{EX}.state.selected.at(-1)")
            wait_until(page, f"document.getElementById('selection').textContent.startsWith('row {picked} ')")
            if picked == 0:
                assert "label (none) \u00b7" in page.text_content("#selection")
            if kind == "category":
                assert "(none)" in page.text_content("#legend")


def test_served_page_headers_and_hostile_labels(table_run):
    root, labels = table_run
    cmd = [sys.executable, "-m", "hourglass", "serve", str(root / "model"), str(root / "data.csv")]
    proc = subprocess.Popen(
        [*cmd, "--label", "label", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"serve did not start: {line}{proc.stderr.read() if proc.poll() is not None else ''}"
        url = match.group(0)
        with urllib.request.urlopen(url, timeout=30) as r:
            headers, page_html = r.headers, r.read().decode()
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page_html).group(1)
        for policy in (headers["Content-Security-Policy"], meta):
            _check_policy(policy, page_html, "'self'")
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(r.read()).decode() == page_html

        with guarded_page(url) as (page, _):
            assert page.evaluate(f"{EX}.mode") == "server"
            assert click_every_dot(page, labels) == set(HOSTILE)
            assert_no_foreign_elements(page)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err


def test_byte_and_pandas_blank_labels(table_run):
    root, _ = table_run
    model = hg.load(root / "model")
    X = pd.read_csv(root / "data.csv").drop(columns="label").iloc[:4]
    cases = [
        (np.array([b"caf\xc3\xa9", b"\xff<b>", b"caf\xc3\xa9", b"x"]), ["caf\u00e9", "x", "\ufffd<b>"]),
        (np.array(["a", None, pd.NA, float("nan")], dtype=object), ["a", None]),
        (np.array([1, 2, 2, 1]), ["1", "2"]),
    ]
    for y, names in cases:
        assert page_data(render_page(model, X, y))["labels"]["names"] == names
