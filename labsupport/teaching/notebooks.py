"""Running the lesson notebooks headless with papermill, and reporting on them.

Executed copies, their HTML renderings and ``build/index.html`` go to ``build/``;
the committed notebooks stay without outputs. What a run writes may name the server it used, so
it is private: files 0600, the executed notebooks' folder 0700. The ``database_url`` parameter
written into a notebook shows its password as ``***``; the kernel gets the real URL in its
environment (``urls.SECRET_ENV``), where ``lesson.open_lab`` finds it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import html
import json
import multiprocessing
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import owners, urls
from ..errors import LabError
from ..settings import settings
from .outcomes import read_outcomes

__all__ = ["NotebookResult", "discover", "execute", "live_kernel", "run_all", "write_index"]

_LESSON = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
# A cell may run a lesson's nested suites for minutes; on a busy 2-core machine a kernel has been seen to
# take longer than papermill's default 60 s to answer.
CELL_TIMEOUT_S = 1800
START_TIMEOUT_S = 300


def _kernel_manager_class(log: Path) -> type:
    """Kernels whose own stderr goes to ``log`` instead of the terminal.

    A kernel's process-level stderr carries only housekeeping (ipykernel's warning about
    unencrypted local TCP, and the KeyboardInterrupt that jupyter_client's shutdown sends);
    cell output travels over the protocol into the notebook as usual. (IPC transport would
    silence the first, but two kernels started in one folder then share socket names.)
    """
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with open(log, "ab") as sink:
                kw.update(stdout=sink, stderr=sink)
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return LoggedKernelManager


def _with_env(manager: type, env: Mapping[str, str]) -> type:
    """``manager``, whose kernels also get ``env`` (on top of ours): how a secret reaches a kernel."""

    class KernelWithEnv(manager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw["env"] = {**kw.get("env", os.environ), **env}
            await super()._async_launch_kernel(kernel_cmd, **kw)

    return KernelWithEnv


def _private_dir(path: Path) -> Path:
    """``path`` made (with its parents) and, when it is ours, closed to everyone else (0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.geteuid():
        os.chmod(path, 0o700)
    return path


def _private_file(path: Path) -> Path:
    """An empty ``path`` only we can read (0600); whoever writes it afterwards keeps that mode."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def _write_private(path: Path, text: str) -> Path:
    _private_file(path).write_text(text, encoding="utf-8")
    return path


def _hide_secrets(parameters: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters as the executed notebook shows them (``database_url`` redacted), and the
    kernel's environment that carries the real URL."""
    url = parameters.get("database_url")
    if not isinstance(url, str) or not url.strip():
        return dict(parameters), {}
    try:
        shown = urls.redact(url.strip())
    except Exception:  # noqa: BLE001 - not a URL: open_lab says so in one line, and it hides nothing
        return dict(parameters), {}
    return {**parameters, "database_url": shown}, {urls.SECRET_ENV: url.strip()}


@dataclass
class NotebookResult:
    name: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""
    outcomes: dict[str, Any] = field(default_factory=dict)
    html: Path | None = None
    retried: str = ""  # why the kernel's first start failed, if it was started a second time

    def line(self) -> str:
        verdict = "passed" if self.ok else "FAILED"
        tail = f"  {self.error}" if self.error else ""
        if self.retried:
            tail += f"  (kernel start retried once after: {self.retried})"
        return f"{self.name:<34} {verdict:<6} {self.seconds:6.1f} s{tail}"


def discover(names: Sequence[str] = (), folder: Path | None = None) -> list[Path]:
    """The lesson notebooks, in order; ``names`` may be '01', a stem, a file name, or a path to one.

    A path elsewhere is refused rather than matched by its file name: running the lab's own
    lesson of that name and saying "passed" would report on a file nobody named.
    """
    folder = folder or settings().notebooks
    every = sorted(p for p in folder.glob("*.ipynb") if _LESSON.match(p.name))
    if not names:
        return every
    chosen = []
    for name in names:
        _check_inside(name, folder)
        stem = Path(name).name.removesuffix(".ipynb")
        hits = [p for p in every if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if len(hits) != 1:
            known = ", ".join(p.stem for p in every) or "none"
            raise LabError(f"unknown notebook {name!r}: choose from {known}")
        chosen.append(hits[0])
    return chosen


def _check_inside(name: str, folder: Path) -> None:
    """A name with a folder in it must be a file of ``folder`` itself."""
    if os.sep not in name and not (os.altsep and os.altsep in name):
        return
    if Path(name).expanduser().resolve().parent != folder.resolve():
        raise LabError(
            f"{name} is outside {folder}: labsupport run runs the lab's own lessons only; name one as 00 or "
            "00_start_here, or open a notebook of your own with 'labsupport lab'"
        )


def _error_line(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        first = (exc.evalue or "").strip().splitlines()
        return f"cell {exc.cell_index} (In [{exc.exec_count}]) raised {exc.ename}: {first[0] if first else ''}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}"


def execute(notebook: Path, out_dir: Path, parameters: dict[str, Any], progress: bool = False,
            timeout: int = CELL_TIMEOUT_S, start_timeout: int = START_TIMEOUT_S) -> NotebookResult:
    """Execute one notebook with papermill in a fresh ``python3`` kernel, cwd = its folder.

    ``start_timeout`` is generous (``START_TIMEOUT_S``). A password in ``database_url``
    never reaches the executed copy: see the module's docstring.
    """
    import papermill

    out_dir = _private_dir(Path(out_dir).resolve())  # resolved: papermill changes the working directory
    output = out_dir / notebook.name
    kernel_log = _private_file(output.with_suffix(".kernel.log"))
    shown, kernel_env = _hide_secrets(parameters)
    started = time.perf_counter()
    retried = ""
    for attempt in (1, 2):
        error = ""
        _private_file(output)
        try:
            papermill.execute_notebook(
                str(notebook), str(output), parameters=shown, kernel_name="python3",
                cwd=str(notebook.parent), progress_bar=progress, execution_timeout=timeout,
                log_output=False, request_save_on_cell_execute=False, start_timeout=start_timeout,
                kernel_manager_class=_with_env(_kernel_manager_class(kernel_log), kernel_env),
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line in the report
            error = _error_line(exc)
            if "Dead" in type(exc).__name__ or "kernel died" in error.lower():
                error += f" (kernel log: {kernel_log})"
            cell_failed = type(exc).__name__ == "PapermillExecutionError"
            if attempt == 1 and not cell_failed and _never_started(output):  # the kernel did not start
                retried = error
                continue
        except BaseException:  # Ctrl-C, SIGTERM: papermill saved nothing, so leave no empty copy behind
            with contextlib.suppress(OSError):
                if output.stat().st_size == 0:
                    output.unlink()
            raise
        break
    seconds = time.perf_counter() - started
    outcomes = read_outcomes(output) if output.stat().st_size else {}  # empty: papermill wrote nothing
    return NotebookResult(name=notebook.stem, ok=not error, seconds=seconds, output=output, error=error,
                          outcomes=outcomes, retried=retried)


@contextlib.asynccontextmanager
async def live_kernel(notebook: Path, parameters: Mapping[str, Any], *, env: Mapping[str, str] | None = None,
                      allow_errors: bool = False, timeout: int = CELL_TIMEOUT_S,
                      start_timeout: int = START_TIMEOUT_S) -> AsyncIterator[Any]:
    """``notebook`` with its parameters cell filled in, in a fresh ``python3`` kernel that stays up while the
    block runs: an ``nbclient.NotebookClient`` whose cells run one at a time and again
    (``client.async_execute_cell(cell, index)``), as a learner runs them in JupyterLab. The same kernel,
    folder, timeouts and hidden password as ``execute``; ``env`` is the kernel's environment (default: ours)."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    shown, kernel_env = _hide_secrets(parameters)
    nb = parameterize_notebook(load_notebook_node(str(notebook)), shown)
    client = NotebookClient(nb, timeout=timeout, startup_timeout=start_timeout, kernel_name="python3",
                            allow_errors=allow_errors, kernel_manager_class=_with_env(AsyncKernelManager, kernel_env),
                            resources={"metadata": {"path": str(notebook.parent)}})
    async with client.async_setup_kernel(**({"env": dict(env)} if env is not None else {})):
        yield client


def _never_started(output: Path) -> bool:
    """True if no cell of the executed copy ran: the kernel failed before the first cell."""
    try:
        cells = json.loads(output.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return True
    return not any(c.get("cell_type") == "code" and c.get("execution_count") for c in cells)


def render_html(result: NotebookResult) -> Path | None:
    try:
        import nbformat
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nbformat.read(result.output, as_version=4))
    except Exception:  # noqa: BLE001 - a missing rendering must not hide the run's verdict
        return None
    return _write_private(result.output.with_suffix(".html"), body)


_running_job = False  # in a ``run -j N`` worker: whether a notebook runs now (see _stop_when_told)


def _execute_job(args: tuple[Path, Path, dict[str, Any], bool]) -> NotebookResult:
    global _running_job
    _running_job = True
    try:
        result = execute(*args)
    finally:
        _running_job = False
    result.html = render_html(result)
    return result


def _stop_when_told() -> None:
    """A ``run -j N`` worker's start: SIGTERM or SIGINT stops its notebook as Ctrl-C stops a sequential
    run's (nbclient shuts the kernel down); an idle worker just exits."""
    def stop(signum: int, frame: object) -> None:
        for kind in (signal.SIGTERM, signal.SIGINT):  # once is enough: a second (Ctrl-C, then the command's
            signal.signal(kind, signal.SIG_IGN)        # SIGTERM) must not cut the kernel's shutdown short
        devnull = os.open(os.devnull, os.O_WRONLY)  # what a stopped notebook's client says as it dies is
        os.dup2(devnull, 2)  # noise on the user's terminal; the command says the one line that counts
        os.close(devnull)
        if _running_job:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def run_all(notebooks: Sequence[Path], database_url: str, jobs: int = 1, out_dir: Path | None = None,
            extra: dict[str, Any] | None = None, report: Callable[[str], None] = print) -> list[NotebookResult]:
    """Run notebooks (``jobs`` at a time), each with its own database prefix; report a line each."""
    out_dir = out_dir or settings().build / "notebooks"
    token = secrets.token_hex(2)
    jobs_args = []
    for nb in notebooks:
        params = {"database_url": database_url, "db_prefix": f"lab{nb.stem[:2]}_{token}", **(extra or {})}
        jobs_args.append((nb, out_dir, params, jobs == 1 and sys.stderr.isatty()))
    results: list[NotebookResult] = []
    try:
        _run_jobs(jobs_args, jobs, results, report)
    finally:  # also on Ctrl-C: drop what this run's notebooks left behind
        _drop_databases(database_url, [job[2]["db_prefix"] for job in jobs_args])
    order = {nb.stem: i for i, nb in enumerate(notebooks)}
    results.sort(key=lambda r: order[r.name])
    write_index(results, out_dir.parent / "index.html")
    return results


def _drop_databases(database_url: str, prefixes: Sequence[str]) -> None:
    """Drop what the run's notebooks left under their prefixes (a failed or interrupted cell skips clean-up)."""
    from .. import databases
    from ..connection import run_sync

    async def sweep() -> None:
        for prefix in prefixes:
            await databases.drop_under(database_url, prefix)

    try:
        run_sync(sweep())
    except databases.NotLabMade as exc:
        print(f"labsupport: {exc}", file=sys.stderr)  # someone's own database under a lesson's prefix: kept
    except LabError:
        pass  # the server is gone already: nothing is left on it


def _run_jobs(jobs_args: list[tuple[Path, Path, dict[str, Any], bool]], jobs: int,
              results: list[NotebookResult], report: Callable[[str], None]) -> None:
    total = len(jobs_args)
    if jobs <= 1:
        for i, job in enumerate(jobs_args, 1):
            report(f"[{i}/{total}] running {job[0].stem} ...")
            results.append(_execute_job(job))
            report(f"[{i}/{total}] {results[-1].line()}")
    else:
        others = {child.pid for child in multiprocessing.active_children() if child.pid is not None}
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, initializer=_stop_when_told)
        try:
            futures = {pool.submit(_execute_job, job): job[0] for job in jobs_args}
            report(f"running {total} notebooks, {jobs} at a time ...")
            for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                results.append(fut.result())
                report(f"[{i}/{total}] {results[-1].line()}")
        except BaseException:  # Ctrl-C, SIGTERM: stop the notebooks still running now, not when they end
            _stop_now(pool, others)
            raise
        pool.shutdown()


def _stop_now(pool: concurrent.futures.ProcessPoolExecutor, others: set[int], wait_s: float = 30) -> None:
    """Stop a pool's workers (the children not in ``others``; each saves its notebook and shuts its kernel
    down) and wait until their kernels are gone, so the command's clean-up finds them no longer in use."""
    pool.shutdown(wait=False, cancel_futures=True)
    workers = [child for child in multiprocessing.active_children() if child.pid not in others]
    kernels = [p for p in owners.processes() if p.ppid in {w.pid for w in workers}]
    for worker in workers:
        worker.terminate()
    deadline = time.monotonic() + wait_s
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    while (left := [k for k in kernels if k.still_runs()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for kernel in left:  # one that missed its parent's end
        with contextlib.suppress(ProcessLookupError):  # or ended just now
            os.kill(kernel.pid, signal.SIGKILL)



def _fmt(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return html.escape(text if len(text) <= 90 else text[:87] + "...")


def write_index(results: Sequence[NotebookResult], target: Path) -> Path:
    """``build/index.html``: each notebook, passed or failed, its duration and recorded outcomes."""
    rows = []
    for r in results:
        link = os.path.relpath(r.html or r.output, target.parent)
        outcomes = "<br>".join(f"<code>{html.escape(k)}</code> = {_fmt(v)}" for k, v in r.outcomes.items())
        verdict = "passed" if r.ok else "failed"
        rows.append(
            f"<tr class='{verdict}'><td><a href='{html.escape(link)}'>{html.escape(r.name)}</a></td>"
            f"<td>{verdict}</td><td>{r.seconds:.1f} s</td><td>{outcomes}"
            f"{'<br><b>' + html.escape(r.error) + '</b>' if r.error else ''}</td></tr>"
        )
    passed = sum(r.ok for r in results)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Isolation Lab: notebook run</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}}
tr.passed td:nth-child(2){{color:#176f2c;font-weight:bold}}tr.failed td:nth-child(2){{color:#b00020;font-weight:bold}}
code{{background:#f4f4f4}}</style></head><body>
<h1>Isolation Lab: notebook run</h1>
<p>{passed} of {len(results)} notebooks passed, {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>
<table><tr><th>notebook</th><th>result</th><th>duration</th><th>recorded outcomes</th></tr>
{''.join(rows)}
</table></body></html>
"""
    target.parent.mkdir(parents=True, exist_ok=True)
    return _write_private(target, page)
