"""What the browser tests share: headless system Chromium under Playwright, and JupyterLab driven from the page.

``test_browser.py`` (every lesson in ``labsupport lab``) and ``test_hub.py`` (three attendees on a JupyterHub)
import these. Each piece works on one open notebook found by its path, never on "whichever tab is current".
The page must expose JupyterLab's app (``--LabApp.expose_app_in_browser=True``): its commands and models.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
START_TIMEOUT_S = 90


def cannot_run(why: str) -> None:
    """One line: a failure where the browser tests are required (CI sets LAB_REQUIRE_BROWSER=1), else a skip."""
    if os.environ.get("LAB_REQUIRE_BROWSER") == "1":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@contextlib.contextmanager
def launch_chromium() -> Iterator[object]:
    """Headless system Chromium under Playwright; never Playwright's own browser download."""
    if not os.access(CHROMIUM, os.X_OK):
        cannot_run(f"no Chromium at {CHROMIUM}: install it with 'apt-get install -y chromium' "
                   "(or set LAB_CHROMIUM to a Chromium binary)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        cannot_run("Python Playwright is not installed: run 'make .venv/.installed' (it is in the dev extra)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


# Run in the page: the open notebook's widget, found by its path.
FIND = """(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.content.model) return w;
  }
  return null;
}"""

STATE = """(path) => {
  const find = %s;
  const w = find(path);
  if (!w) return {open: false};
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = [];
  const model = w.content.model;
  for (let i = 0; i < model.cells.length; i++) {
    const c = model.cells.get(i);
    if (c.type !== 'code') continue;
    const outputs = c.outputs.toJSON();
    cells.push({index: i, count: c.executionCount,
                errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`)});
  }
  return {open: true, status: kernel ? kernel.status : 'no kernel', dirty: w.context.model.dirty, cells};
}""" % FIND

# Done: the kernel is idle again and either every code cell has a count, or a cell failed (JupyterLab then
# leaves the cells below it unrun). A closed tab or a dead kernel ends the wait too.
_DONE = """(s) => {
  if (!s.open || s.status === 'dead') return true;
  const failed = s.cells.some(c => c.errors.length);
  return s.status === 'idle' && (failed || s.cells.every(c => c.count !== null)); }"""


def state(page, path: str) -> dict:
    return page.evaluate(STATE, path)


def wait_until_ready(page, path: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """The notebook is open, and its kernel has started and is idle."""
    page.wait_for_function("(path) => { const w = (%s)(path); return w && w.context.isReady; }" % FIND,
                           arg=path, timeout=timeout_s * 1000)
    page.wait_for_function("""(path) => { const w = (%s)(path);
        const k = w.sessionContext.session && w.sessionContext.session.kernel;
        return k && k.status === 'idle'; }""" % FIND, arg=path, timeout=timeout_s * 1000)


def start_run_all(page, path: str) -> None:
    """Run All, without waiting for it: the page runs the cells while the test drives other pages."""
    page.evaluate("""(path) => { const w = (%s)(path);
        window.jupyterapp.shell.activateById(w.id);
        window.jupyterapp.commands.execute('notebook:run-all-cells'); }""" % FIND, path)


def run_all_done(page, path: str) -> bool:
    return page.evaluate("(path) => (%s)((%s)(path))" % (_DONE, STATE), path)


def run_all(page, path: str, timeout_s: float) -> None:
    """Run All and wait until it is done (see ``_DONE``)."""
    start_run_all(page, path)
    page.wait_for_function("(path) => (%s)((%s)(path))" % (_DONE, STATE), arg=path,
                           timeout=timeout_s * 1000, polling=1000)


def save(page, path: str) -> None:
    page.evaluate("""async (path) => { const w = (%s)(path);
        window.jupyterapp.shell.activateById(w.id);
        await window.jupyterapp.commands.execute('docmanager:save'); }""" % FIND, path)
    page.wait_for_function("(path) => !(%s)(path).context.model.dirty" % FIND, arg=path, timeout=30_000)


def shown_errors(page, path: str) -> list[str]:
    """What the learner sees in the page: error outputs, and outputs that render a traceback."""
    errors = [f"cell {c['index']}: {e}" for c in state(page, path)["cells"] for e in c["errors"]]
    tracebacks = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
                              has_text="Traceback (most recent call last)").count()
    return errors + ([f"{tracebacks} output(s) show a traceback"] if tracebacks else [])


def saved_problems(notebook: dict) -> tuple[list[str], list[int]]:
    """What JupyterLab saved: error outputs, and the code cells that never ran."""
    code = [(i, c) for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"]
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
              for i, c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    return errors, [i for i, c in code if c.get("execution_count") is None]


def news_toasts(page) -> list[str]:
    texts = page.locator(".Toastify__toast, .jp-toastContainer .Toastify__toast-body").all_inner_texts()
    return [t for t in texts if re.search(r"\bnews\b|update", t, re.IGNORECASE)]


def screenshot(page, path: str, stem: str) -> Path:
    """The executed notebook from the top, in a window tall enough to show much of it (capped: Chromium's
    screenshots have a size limit), into ``build/screenshots/<stem>.png``."""
    page.evaluate("""(path) => { const w = (%s)(path);
        w.content.activeCellIndex = 0; w.content.scrollToItem ? w.content.scrollToItem(0) : null;
        const outer = w.content.node; outer.scrollTop = 0; }""" % FIND, path)
    height = page.evaluate("""(path) => { const w = (%s)(path);
        const inner = w.content.node.querySelector('.jp-WindowedPanel-viewport') || w.content.node;
        return inner.scrollHeight; }""" % FIND, path)
    page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height) + 200, 12000))})
    page.wait_for_timeout(1500)  # cells that scrolled into view render
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{stem}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def shutdown_kernel(page, path: str) -> None:
    """Stop this notebook's kernel (its databases are dropped with it), so the next notebook starts alone."""
    try:
        page.evaluate("""async (path) => { const w = (%s)(path);
            if (w && w.sessionContext.session) await w.sessionContext.shutdown(); }""" % FIND, path)
    except Exception:  # noqa: BLE001 - the page may be gone already; the server's shutdown stops the kernel anyway
        pass
