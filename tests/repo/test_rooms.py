"""The three rooms: the plugin loads nothing it does not need, and installs light.

- importing the plugin (what every pytest run in a project that installed the lab does) must
  not import the launcher, the teaching room, Jupyter, papermill, matplotlib, FastAPI or nbclient;
- the plugin alone (no ``[lab]`` extra), installed from this checkout into a fresh venv with
  pytest-xdist, runs an async suite with a database per worker at ``-n 2`` on the real server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labsupport.teaching.lesson import clean_env

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_MODULES = ("labsupport.pytest_plugin", "labsupport.pytest_plugin.hooks", "labsupport.pytest_plugin.guard_hooks",
                  "labsupport.pytest_plugin.worker_hooks")
FORBIDDEN = ("labsupport.server", "labsupport.teaching", "jupyter", "papermill", "matplotlib", "fastapi",
             "nbclient")
MAX_PACKAGES = 20


def _imported(code: str) -> list[str]:
    """Every module a fresh interpreter imports for ``code``, read from ``-X importtime``'s stderr."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          env=clean_env(scenarios=False), check=True)
    lines = [ln.split("|")[-1] for ln in proc.stderr.splitlines() if ln.startswith("import time:")]
    return [ln.strip() for ln in lines if ln.strip() and ln.strip() != "imported package"]


def test_loading_the_plugin_imports_neither_the_launcher_nor_the_teaching_room() -> None:
    modules = _imported("import " + ", ".join(PLUGIN_MODULES))
    assert "labsupport.pytest_plugin.worker_hooks" in modules  # the parse is right: it sees the plugin itself
    bad = [m for m in modules if any(m == f or m.startswith(f + ".") or m.startswith(f + "_") for f in FORBIDDEN)]
    assert bad == []


def test_the_import_check_catches_a_forbidden_import() -> None:
    modules = _imported("import labsupport.pytest_plugin, labsupport.server")
    assert "labsupport.server" in modules and "labsupport.server.cluster" in modules


def test_the_lab_package_alone_imports_only_its_error_type() -> None:
    modules = [m for m in _imported("import labsupport") if m.startswith("labsupport")]
    assert modules == ["labsupport.errors", "labsupport"]


SUITE = {
    "pytest.ini": """\
        [pytest]
        addopts = -p no:cacheprovider
        pythonpath = .
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        lab_metadata = shop.models:Base.metadata
        """,
    "shop/__init__.py": "",
    "shop/models.py": """\
        from sqlalchemy import String
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


        class Base(DeclarativeBase):
            pass


        class Item(Base):
            __tablename__ = "items"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(40), unique=True)
        """,
    "test_items.py": """\
        import pytest
        from sqlalchemy import func, select, text

        from shop.models import Item


        @pytest.mark.parametrize("n", range(8))
        async def test_each_test_sees_only_its_own_row(lab_session, worker_id, n):
            lab_session.add(Item(name="same-name"))  # unique: a shared, unrolled-back table would collide
            await lab_session.commit()
            assert await lab_session.scalar(select(func.count()).select_from(Item)) == 1
            database = await lab_session.scalar(text("SELECT current_database()"))
            assert database.endswith(f"_{worker_id}_test") and worker_id.startswith("gw")
        """,
}


def _write_suite(folder: Path) -> Path:
    for name, text in SUITE.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def _checkout_copy(target: Path) -> Path:
    """What pip builds from: the checkout's package and metadata (its build/ and .lab/ stay untouched)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "labsupport", target / "labsupport", ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.mark.starts_first(5)
@pytest.mark.install
def test_the_plugin_alone_installs_light_and_runs_a_suite_at_n_2(lab_server, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    started = time.perf_counter()
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", str(_checkout_copy(tmp_path / "src")),
                              "pytest-xdist"], capture_output=True, text=True, env=clean_env(scenarios=False),
                             timeout=900, check=False)
    seconds = time.perf_counter() - started
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)} - {"pip", "setuptools"}
    print(f"plugin alone: {len(names)} packages in {seconds:.1f} s: {sorted(names)}")
    assert not names & {"jupyterlab", "papermill", "matplotlib", "fastapi", "nbclient", "ipykernel", "notebook"}
    assert {"isolation-lab", "pytest-xdist", "asyncpg", "sqlalchemy"} <= names
    assert len(names) <= MAX_PACKAGES, sorted(names)

    env = clean_env({"LAB_SERVER_URL": lab_server.url}, scenarios=False)
    env.pop("PYTHONPATH", None)
    run = subprocess.run([python, "-m", "pytest", "-n", "2", "--color=no", "-q"], cwd=_write_suite(tmp_path / "suite"),
                         capture_output=True, text=True, env=env, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "8 passed" in run.stdout, run.stdout[-2000:]
