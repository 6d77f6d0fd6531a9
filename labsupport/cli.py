"""The ``labsupport`` command: the lab's server, notebooks, checks and benchmarks.

Every LabError ends as one line on stderr and exit status 2; no traceback reaches the user.
Which server is in use is ``server.current()``'s decision; the teaching room (notebooks,
doctor, bench) is imported by the subcommands that need it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import owners, server
from .errors import LabError, os_error_line

__all__ = ["main", "Terminated"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, as Ctrl-C raises KeyboardInterrupt: every clean-up a
    Ctrl-C runs (kernels shut down, databases dropped, the server stopped if this command started
    it) runs for SIGTERM too."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise Terminated()


def _describe(info: server.ServerInfo) -> str:
    where = f"127.0.0.1:{info.port}" if info.tcp else (f"socket in {info.socket_dir}" if info.socket_dir else "")
    parts = [f"PostgreSQL {info.version}" if info.version else "PostgreSQL", f"source: {info.source}"]
    if where:
        parts.append(where)
    if info.pid:
        parts.append(f"pid {info.pid}")
    return ", ".join(parts)


def _cmd_up(args: argparse.Namespace) -> int:
    info, started = server.up(tcp=args.tcp or args.port is not None, port=args.port, keep=True)
    print(f"{'started' if started else 'already running'}: {_describe(info)}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    chosen = server.current()
    if not chosen.managed:
        print(f"{chosen.source()}: the lab never stops it")
        return 0
    print("stopped" if server.down(force=args.force) else "not running")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from .settings import settings

    chosen = server.current()
    info = chosen.status()
    cfg = settings()
    full = server.space_problem(chosen)
    if info is None:
        print(f"not running (would use {chosen.source()}; start it with 'labsupport up')")
        print(f"state folder: {cfg.home} ({cfg.home_from})")
        if full:
            print(full)
        return 3
    print(f"running: {_describe(info)}")
    if info.managed:
        print(f"state folder: {cfg.home} ({cfg.home_from}); data: {info.data_dir}")
    if full:
        print(full)
    return 0


def _cmd_url(args: argparse.Namespace) -> int:
    from .databases import validate_name

    if args.dbname == "":  # a bad name, not "the default": never hand out the admin URL for it
        raise LabError("the database name is empty: name a database, or leave the name out for 'postgres'")
    name = None if args.dbname is None else validate_name(args.dbname)
    info = server.status()
    if info is None:
        raise LabError("the lab's server is not running: start it with 'labsupport up'")
    print(info.url_for(name) if name is not None else info.url)
    return 0


def _cmd_reset(args: argparse.Namespace) -> int:
    info = server.reset(force=args.force)
    print(f"recreated: {_describe(info)}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .settings import settings
    from .teaching.notebooks import discover, run_all

    if args.jobs < 1:
        raise LabError("-j must be at least 1")
    notebooks = discover(args.notebooks)
    out = args.out if args.out is not None else settings().build  # --out: a second run beside build/ (make test-latest)
    _check_out(out, "--out" if args.out is not None else "the build folder")
    with server.use() as lease:
        try:
            results = run_all(notebooks, lease.info.url, jobs=args.jobs, out_dir=out / "notebooks")
        finally:  # also on Ctrl-C and SIGTERM: what the run's kernels, now gone, kept in temporary folders
            owners.reap_temp_dirs()
        died = server.died()
    passed = sum(r.ok for r in results)
    print(f"{passed} of {len(results)} notebooks passed; report: {out / 'index.html'}")
    if died:  # every failure since is that one fault: say it once
        print(f"labsupport: {died}", file=sys.stderr)
        return 1
    for r in results:
        if not r.ok:
            print(f"{r.name} failed: {r.error}", file=sys.stderr)
    return 0 if passed == len(results) else 1


def _check_out(out: Path, what: str) -> None:
    """Before anything starts: ``out`` must be a folder we can make or write in, said in one line."""
    existing = out / "notebooks"
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        named = f"{out} is a file" if existing == out else f"{out}: {existing} is a file"
        raise LabError(f"{what} {named}: name a folder for the notebooks/ and index.html it gets")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LabError(f"{what} {out}: you cannot write in {existing}: name a folder of your own")


def _cmd_lab(args: argparse.Namespace) -> int:
    from .settings import settings

    lease = server.acquire(keep=True)  # held by JupyterLab, which this process becomes, and its kernels
    info, started = lease.info, lease.started
    if lease.uses is None:  # an external server: the lab never stops it
        after = ""
    elif lease.uses.stop_marked():  # a test run's server, found running
        after = "; it stops when JupyterLab and the command that started it have ended"
    else:
        after = "; it keeps running for the whole workshop ('labsupport down' stops it once JupyterLab has ended)"
    print(f"{'started' if started else 'using'} {_describe(info)}{after}")
    from .teaching import jupyter_lab

    cmd = jupyter_lab.command(settings().notebooks, args.jupyter_args)  # after "--": e.g. --port=8899
    if not shutil.which("xdg-open") and not os.environ.get("DISPLAY"):
        cmd.append("--no-browser")
    sys.stdout.flush()
    os.execve(sys.executable, cmd, jupyter_lab.environment())
    return 0  # pragma: no cover


def _cmd_doctor(args: argparse.Namespace) -> int:
    if args.parallel is not None:
        from .teaching.doctor.parallel import run_parallel_checks

        return 0 if run_parallel_checks(args.parallel, cov=args.cov) else 1
    from .teaching.doctor.lab import run_checks

    return 0 if run_checks() else 1


def _cmd_bench(args: argparse.Namespace) -> int:
    """Speed never sets the exit status: a missed target is a finding, printed (PASS/MISS, met/MISSED) beside
    its figures, which go to build/bench/."""
    if args.repeat < 1:
        raise LabError("--repeat must be at least 1")
    parts = ["server", "isolation", "parallel", "lab", "workshop"] if args.what == "all" else [args.what]
    for part in parts:
        if len(parts) > 1:
            print(f"== bench {part}", flush=True)
        if part == "server":
            from .teaching.bench.server import bench_server

            bench_server(repeat=args.repeat, out=args.out)
        elif part == "isolation":
            from .teaching.bench.isolation import bench_isolation

            bench_isolation(quick=args.quick, out=args.out)
        elif part == "parallel":
            from .teaching.bench.parallel import bench_parallel

            bench_parallel(quick=args.quick, out=args.out)
        elif part == "lab":
            from .teaching.bench.lab import bench_lab

            bench_lab(quick=args.quick, out=args.out)
        else:
            from .teaching.bench.workshop import bench_workshop

            bench_workshop(quick=args.quick, out=args.out)
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is outside 1-65535")
    return port


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where help is) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"labsupport: {' '.join(message.split())} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="labsupport", description="The Isolation Lab's server, notebooks and checks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="start the lab's PostgreSQL (idempotent)")
    p.add_argument("--tcp", action="store_true", help="also listen on 127.0.0.1 (a free port unless --port)")
    p.add_argument("--port", type=_port, help="TCP port on 127.0.0.1 (implies --tcp)")
    p.set_defaults(func=_cmd_up)
    p = sub.add_parser("down", help="stop the lab's PostgreSQL (refused while a command or notebook uses it)")
    p.add_argument("--force", action="store_true", help="stop it even while commands or notebooks use it")
    p.set_defaults(func=_cmd_down)
    sub.add_parser("status", help="say which server is in use and whether it answers").set_defaults(func=_cmd_status)
    p = sub.add_parser("url", help="print an asyncpg URL for a database")
    p.add_argument("dbname", nargs="?", help="database name (default: postgres)")
    p.set_defaults(func=_cmd_url)
    reset = sub.add_parser("reset", help="delete and recreate the lab's cluster")
    reset.add_argument("--force", action="store_true",
                       help="also while another command uses it, or it holds databases a person made")
    reset.set_defaults(func=_cmd_reset)
    p = sub.add_parser("run", help="execute notebooks headless into build/")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="e.g. 00 or 01_dev_database_purge (default: all)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="notebooks to run at once")
    p.add_argument("--out", type=Path, default=None, metavar="FOLDER",
                   help="write FOLDER/notebooks/ and FOLDER/index.html (default: build)")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("lab", help="start the server and open JupyterLab on notebooks/")
    p.add_argument("jupyter_args", nargs="*", metavar="-- JUPYTERLAB_OPTION",
                   help="options passed on to JupyterLab after --, e.g. -- --port=8899")
    p.set_defaults(func=_cmd_lab)
    p = sub.add_parser("doctor", help="check the environment, one PASS/FAIL line each")
    p.add_argument("--parallel", nargs="?", const=".", default=None, metavar="SUITE",
                   help="check parallel runs of a test suite instead (default: the current directory)")
    p.add_argument("--cov", default="", metavar="PACKAGE",
                   help="with --parallel: the package to measure coverage of (default: what pytest-cov measures)")
    p.set_defaults(func=_cmd_doctor)
    p = sub.add_parser("bench", help="measure speed targets (medians); figures in build/bench/")
    p.add_argument("what", choices=["server", "isolation", "parallel", "lab", "workshop", "all"], help="what to measure")
    p.add_argument("--repeat", type=int, default=5, help="rounds to take medians over (server)")
    p.add_argument("--quick", action="store_true",
                   help="check that it works, in less time: isolation 50 tests and one round instead of 200 and "
                        "three; parallel 2 work levels, 20 tests, one round; lab only notebook 00; workshop 1 and 2 "
                        "attendees instead of 1, 2 and 4")
    p.add_argument("--out", type=Path, default=Path("build/bench"), help="folder for results.json and charts")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed a one-line usage error
        return int(exc.code or 0)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if threading.current_thread() is threading.main_thread() else None
    try:
        return _dispatch(args)
    finally:
        if previous is not None:  # main() called in-process (tests): give the caller its handler back
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except LabError as exc:
        print(f"labsupport: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("labsupport: terminated (SIGTERM): cleaned up what this command started", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("labsupport: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a folder or file the lab needs: say which, and stop
        print(f"labsupport: {os_error_line(exc)}", file=sys.stderr)
        return LabError.exit_code


def _stdout_closed() -> int:
    """Whoever read our output stopped (``labsupport status | head -1``): end quietly, as 128 + SIGPIPE,
    the status a shell reports for a command that a closed pipe stopped."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush into the closed pipe at exit
    os.close(devnull)
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
