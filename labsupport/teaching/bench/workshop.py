"""``labsupport bench workshop``: what one attendee costs a machine, measured with simulated attendees.

A hub gives each person a lab state folder of their own (so their own PostgreSQL), a Jupyter server
process and a kernel. This bench builds exactly that N times (N = 1, 2, 4; ``--quick``: 1, 2), starts
every attendee's lesson at the same moment through the lab's own runner (``labsupport run 01`` with the
attendee's ``LAB_HOME``, headless papermill) and measures, per attendee:

- peak memory, sampled every ``SAMPLE_S``: the resident set (RSS) of all their postgres processes,
  of the runner's process tree (papermill, the kernel and the pytest runs the lesson starts) and of
  their Jupyter server, summed; the same as PSS (shared pages split between the processes sharing
  them, so postgres's shared buffers count once) where Linux reports it; and the cluster's files
  when they sit in ``/dev/shm`` (tmpfs is memory no RSS shows);
- CPU seconds (user + system) for the lesson: the runner's tree from the kernel's own accounting of
  the reaped process (``wait4``: it includes every child it waited for, so the kernel and its pytest
  runs), plus their postgres processes' CPU over the same span (the postmaster's own, its live
  children's and what it reaped);
- the lesson's wall time; the slowest attendee's per N is what the room waits for.

The attendee's Jupyter server is real (``jupyter lab``, asked for ``/lab`` once, as a browser would) but
idle: the lesson runs headless beside it, so its CPU is not part of the lesson's. Everything is
removed at the end: servers stopped, state folders (``owners.temp_dir``, reaped by the next start if
this process is killed) deleted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import owners
from ...errors import LabError
from ...server.cluster import SHM, Cluster
from ...server.processes import free_port
from ...settings import settings
from .. import jupyter_lab
from .results import machine_facts, merge_results

__all__ = ["Attendee", "bench_workshop", "FULL_COUNTS", "QUICK_COUNTS", "SAMPLE_S", "table"]

FULL_COUNTS = (1, 2, 4)
QUICK_COUNTS = (1, 2)
SAMPLE_S = 0.25
_MIB = 1 << 20
_JUPYTER_START_S = 180.0  # a JupyterLab server on a busy 2-core machine has taken over a minute
_GROUPS = ("postgres", "runner", "jupyter")


_HAS_PSS = Path("/proc/self/smaps_rollup").exists()


def _rss_pss(pid: int) -> tuple[int, int | None]:
    """A process's resident bytes and proportional bytes (PSS; None where the kernel has no
    ``smaps_rollup``); (0, 0) once it is gone, also when it ends between the two reads."""
    import psutil

    try:
        rss = psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # a zombie is a NoSuchProcess too
        return 0, 0
    if not _HAS_PSS:
        return rss, None
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return rss, int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0, 0  # it ended between the two reads


def _tree(pid: int | None) -> list[int]:
    """``pid`` and its descendants now (none if it is gone)."""
    import psutil

    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [pid, *(c.pid for c in root.children(recursive=True))]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _postgres_cpu(postmaster: int | None) -> float:
    """CPU seconds of a postmaster, its live children, and the children it reaped (their cutime)."""
    import psutil

    total = 0.0
    for pid in _tree(postmaster):
        try:
            t = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _folder_bytes(path: Path) -> int:
    """Bytes a folder's files occupy (allocated blocks), 0 when unreadable."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


@dataclass
class Attendee:
    """One simulated attendee: their state folder, PostgreSQL, Jupyter server, lesson run and figures."""

    index: int
    folder: Path
    cluster: Cluster | None = None
    postmaster: int | None = None
    data_dir: Path | None = None
    jupyter: subprocess.Popen[bytes] | None = None
    runner: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    wall_s: float | None = None
    exit_code: int | None = None
    runner_cpu_s: float | None = None
    postgres_cpu_before: float = 0.0
    postgres_cpu_s: float | None = None
    jupyter_idle_rss: int = 0
    peak: dict[str, int] = field(default_factory=lambda: {g: 0 for g in _GROUPS})
    peak_total_rss: int = 0
    peak_total_pss: int | None = 0 if _HAS_PSS else None  # None: the kernel has no smaps_rollup
    shm_bytes: int = 0
    postgres_processes_max: int = 0

    @property
    def home(self) -> Path:
        return self.folder / "lab"

    @property
    def log(self) -> Path:
        return self.folder / "runner.log"

    def environment(self) -> dict[str, str]:
        env = jupyter_lab.environment()
        env.update(LAB_HOME=str(self.home), JUPYTER_RUNTIME_DIR=str(self.folder / "jupyter-runtime"),
                   PYTHONUNBUFFERED="1")
        env.pop("LAB_DATABASE_URL", None)  # each attendee has their own cluster, never a shared server
        return env

    def sample(self) -> None:
        """Add one memory sample: RSS (and PSS) per group and in total; keep the peaks."""
        groups = {"postgres": _tree(self.postmaster),
                  "runner": _tree(self.runner.pid if self.runner and self.wall_s is None else None),
                  "jupyter": _tree(self.jupyter.pid if self.jupyter else None)}
        self.postgres_processes_max = max(self.postgres_processes_max, len(groups["postgres"]))
        total_rss, total_pss = 0, 0
        for name, pids in groups.items():
            rss_sum = 0
            for pid in pids:
                rss, pss = _rss_pss(pid)
                rss_sum += rss
                total_pss += pss or 0
            self.peak[name] = max(self.peak[name], rss_sum)
            total_rss += rss_sum
        self.peak_total_rss = max(self.peak_total_rss, total_rss)
        if self.peak_total_pss is not None:
            self.peak_total_pss = max(self.peak_total_pss, total_pss)

    def figures(self) -> dict[str, Any]:
        def mib(b: float) -> float:
            return round(b / _MIB, 1)

        return {
            "lesson_passed": self.exit_code == 0, "exit_code": self.exit_code,
            "wall_s": None if self.wall_s is None else round(self.wall_s, 1),
            "cpu_s": {"runner_tree": _r(self.runner_cpu_s), "postgres": _r(self.postgres_cpu_s),
                      "total": _r((self.runner_cpu_s or 0) + (self.postgres_cpu_s or 0))},
            "peak_rss_mib": {name: mib(v) for name, v in self.peak.items()} | {"total": mib(self.peak_total_rss)},
            "peak_pss_total_mib": None if self.peak_total_pss is None else mib(self.peak_total_pss),
            "memory_pss_mib": None if self.peak_total_pss is None else mib(self.peak_total_pss + self.shm_bytes),
            "jupyter_idle_rss_mib": mib(self.jupyter_idle_rss),
            "cluster_files_in_shm_mib": mib(self.shm_bytes),
            "memory_mib": mib(self.peak_total_rss + self.shm_bytes),
            "postgres_processes_max": self.postgres_processes_max,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _start_jupyter(att: Attendee, notebooks: Path) -> None:
    """A real JupyterLab server for the attendee, as a hub's spawner starts one; wait until it serves /lab."""
    port, token = free_port(), secrets.token_hex(16)
    cmd = jupyter_lab.command(notebooks, ["--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                                          f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1"])
    att.jupyter = jupyter_lab.start(cmd, f"http://127.0.0.1:{port}/lab?token={token}", att.folder / "jupyter.log",
                                    env=att.environment(), timeout_s=_JUPYTER_START_S,
                                    what=f"attendee {att.index}'s JupyterLab")


def _prepare(att: Attendee, notebooks: Path) -> None:
    """Start the attendee's PostgreSQL (in their own state folder) and their Jupyter server."""
    os.chmod(att.folder, 0o755)  # as root, the server user must reach its state folder
    att.cluster = Cluster(att.home)
    info, _ = att.cluster.up()
    att.postmaster = info.pid
    att.data_dir = Path(info.data_dir) if info.data_dir else None
    _start_jupyter(att, notebooks)
    att.jupyter_idle_rss = sum(_rss_pss(p)[0] for p in _tree(att.jupyter.pid if att.jupyter else None))
    att.sample()  # the peaks start here: an idle server's resident pages can shrink during the lesson


def _launch(att: Attendee, notebook: str) -> None:
    att.postgres_cpu_before = _postgres_cpu(att.postmaster)
    with open(att.log, "ab") as sink:
        att.started = time.perf_counter()
        att.runner = subprocess.Popen([sys.executable, "-m", "labsupport", "run", notebook, "--out",
                                       str(att.folder / "build")], env=att.environment(), stdout=sink,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _reap(att: Attendee) -> None:
    """Wait for the attendee's runner; take its CPU from the kernel's accounting of it and its children."""
    assert att.runner is not None
    try:
        _, status, usage = os.wait4(att.runner.pid, 0)
    except ChildProcessError:  # reaped by _stop after an interruption: no figures
        return
    att.wall_s = time.perf_counter() - att.started
    att.runner.returncode = att.exit_code = os.waitstatus_to_exitcode(status)
    att.runner_cpu_s = usage.ru_utime + usage.ru_stime
    att.postgres_cpu_s = max(0.0, _postgres_cpu(att.postmaster) - att.postgres_cpu_before)
    if att.data_dir is not None and str(att.data_dir.resolve()).startswith(SHM + "/"):
        att.shm_bytes = _folder_bytes(att.data_dir)


def _stop(att: Attendee) -> None:
    """Stop what the attendee runs, children first (an interrupted runner's kernel and pytest runs too);
    their folder is removed by the caller."""
    import psutil

    for proc in (att.runner, att.jupyter):
        if proc is None or proc.returncode is not None:
            continue
        children = [psutil.Process(pid) for pid in _tree(proc.pid)[1:] if psutil.pid_exists(pid)]
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        psutil.wait_procs(children, timeout=10)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    if att.cluster is not None:
        try:
            att.cluster.destroy()
        except LabError:
            pass


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def run_attendees(count: int, notebook: str = "01", report: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """``count`` attendees, each with their own PostgreSQL and Jupyter server, run ``notebook`` at once."""
    notebooks = settings().notebooks
    attendees: list[Attendee] = []
    try:
        for i in range(1, count + 1):
            att = Attendee(i, owners.temp_dir("workshop"))
            attendees.append(att)
            _prepare(att, notebooks)
            report(f"  N={count}: attendee {i} ready (PostgreSQL pid {att.postmaster}, JupyterLab "
                   f"{att.jupyter_idle_rss / _MIB:.0f} MiB idle)")
        for att in attendees:
            _launch(att, notebook)
        report(f"  N={count}: {count} lesson run(s) of {notebook} started at once")
        waiters = [threading.Thread(target=_reap, args=(att,), daemon=True) for att in attendees]
        for t in waiters:
            t.start()
        last_report = time.monotonic()
        while any(t.is_alive() for t in waiters):
            for att in attendees:
                att.sample()
            if time.monotonic() - last_report >= 15:
                last_report = time.monotonic()
                running = sum(att.wall_s is None for att in attendees)
                elapsed = time.perf_counter() - attendees[0].started
                report(f"  N={count}: {elapsed:5.0f} s, {running} of {count} still running")
            time.sleep(SAMPLE_S)
        for t in waiters:
            t.join()
        for att in attendees:
            verdict = "passed" if att.exit_code == 0 else f"FAILED ({_last_line(att.log)})"
            report(f"  N={count}: attendee {att.index} {verdict} in {att.wall_s:.1f} s")
        return [att.figures() for att in attendees]
    finally:
        for att in attendees:
            _stop(att)
            shutil.rmtree(att.folder, ignore_errors=True)


def _summary(count: int, figures: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def biggest(get: Callable[[dict[str, Any]], float | None]) -> float | None:
        values = [v for v in map(get, figures) if v is not None]
        return max(values) if values else None

    return {"attendees": count, "all_passed": all(f["lesson_passed"] for f in figures),
            "slowest_wall_s": biggest(lambda f: f["wall_s"]),
            "max_cpu_s_per_lesson": biggest(lambda f: f["cpu_s"]["total"]),
            "max_memory_mib_per_attendee": biggest(lambda f: f["memory_mib"]),
            "max_memory_pss_mib_per_attendee": biggest(lambda f: f["memory_pss_mib"]),
            "per_attendee": list(figures)}


def table(runs: Iterable[dict[str, Any]]) -> list[str]:
    """One line per attendee (memory split by group, CPU, wall), one summary line per N."""
    head = (f"{'N':>2} {'who':>4} {'postgres':>9} {'kernel+':>9} {'jupyter':>8} {'shm files':>9} {'memory':>8} "
            f"{'PSS+shm':>7} {'CPU s':>6} {'wall s':>7}")
    lines = [head, f"{'':>2} {'':>4} {'RSS MiB':>9} {'RSS MiB':>9} {'RSS MiB':>8} {'MiB':>9} {'MiB':>8} {'MiB':>7}"]
    for run in runs:
        for i, f in enumerate(run["per_attendee"], 1):
            pss = f["memory_pss_mib"]
            lines.append(f"{run['attendees']:>2} {i:>4} {f['peak_rss_mib']['postgres']:9.0f} "
                         f"{f['peak_rss_mib']['runner']:9.0f} {f['peak_rss_mib']['jupyter']:8.0f} "
                         f"{f['cluster_files_in_shm_mib']:9.0f} {f['memory_mib']:8.0f} "
                         f"{'-' if pss is None else format(pss, '.0f'):>7} {f['cpu_s']['total']:6.1f} "
                         f"{f['wall_s']:7.1f}{'' if f['lesson_passed'] else '  FAILED'}")
        lines.append(f"{run['attendees']:>2} {'max':>4} {'':>9} {'':>9} {'':>8} {'':>9} "
                     f"{run['max_memory_mib_per_attendee']:8.0f} {'':>7} {run['max_cpu_s_per_lesson']:6.1f} "
                     f"{run['slowest_wall_s']:7.1f}  <- slowest lesson with {run['attendees']} at once")
    lines.append("memory = peak RSS of postgres + kernel+ (runner, kernel, its pytest runs) + jupyter, plus the "
                 "cluster's files in /dev/shm; PSS+shm: the same with shared pages split between the processes sharing them; "
                 "CPU = user+sys of kernel+ and postgres")
    return lines


def chart(runs: Sequence[dict[str, Any]], cores: int, path: Path) -> Path:
    """Slowest lesson wall time and the largest attendee's memory against N, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["attendees"] for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(ns, [r["slowest_wall_s"] for r in runs], marker="o")
    left.set_xlabel("attendees at once")
    left.set_ylabel("slowest lesson wall time (s)")
    left.set_ylim(bottom=0)
    right.plot(ns, [r["max_memory_mib_per_attendee"] for r in runs], marker="o", label="RSS + /dev/shm files")
    if all(r["max_memory_pss_mib_per_attendee"] is not None for r in runs):
        right.plot(ns, [r["max_memory_pss_mib_per_attendee"] for r in runs], marker="s", label="PSS + /dev/shm files")
    right.set_xlabel("attendees at once")
    right.set_ylabel("peak memory per attendee (MiB)")
    right.set_ylim(bottom=0)
    right.legend(fontsize=8, loc="lower right")
    for ax in (left, right):
        ax.set_xticks(ns)
    fig.suptitle(f"simulated attendees on {cores} cores", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bench_workshop(quick: bool = False, out: Path = Path("build/bench"), *, counts: Sequence[int] | None = None,
                   notebook: str = "01", report: Callable[[str], None] = print,
                   draw: bool = True) -> dict[str, Any]:
    """Run ``notebook`` for N simulated attendees at once for each N; print the table, merge the
    ``workshop`` key into ``out/results.json`` and draw ``out/workshop.png``."""
    counts = list(counts or (QUICK_COUNTS if quick else FULL_COUNTS))
    if not counts or min(counts) < 1:
        raise LabError("the attendee counts must be at least 1")
    facts = machine_facts()
    started = time.perf_counter()
    report(f"workshop: lesson {notebook} for {', '.join(map(str, counts))} simulated attendee(s) at once, each "
           f"with their own PostgreSQL and JupyterLab, on {facts['cores']} cores (load {facts['load_average_1_5_15_min']})")
    runs = []
    for count in counts:
        runs.append(_summary(count, run_attendees(count, notebook, report)))
    for line in table(runs):
        report(line)
    out = Path(out)
    result = {"benchmark": "workshop", "quick": quick, "notebook": notebook, "machine": facts,
              "load_average_after": machine_facts()["load_average_1_5_15_min"],
              "memory_total_mib": _total_memory_mib(), "runs": runs,
              "sample_interval_s": SAMPLE_S, "seconds": round(time.perf_counter() - started, 1)}
    merge_results(out, {"workshop": result})
    wrote = f"the workshop key of {out / 'results.json'}"
    if draw:
        wrote += f" and {chart(runs, facts['cores'] or 1, out / 'workshop.png')}"
    report(f"wrote {wrote} in {result['seconds']:.0f} s")
    return result


def _total_memory_mib() -> int:
    import psutil

    return int(psutil.virtual_memory().total / _MIB)

