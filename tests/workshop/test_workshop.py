"""workshop/: the JupyterHub config for one server, the Zero-to-JupyterHub values and the guide.

The config is executed as JupyterHub would (a traitlets Config behind ``get_config``), its settings are
checked, and its pre-spawn hook really copies a checkout into an attendee's home, owned by them.
"""

from __future__ import annotations

import os
import pwd
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[2]
WORKSHOP = REPO / "workshop"


def _load_config(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Config, dict[str, Any]]:
    for key in ("WORKSHOP_SHARED_PASSWORD", "WORKSHOP_ATTENDEES", "WORKSHOP_INSTRUCTORS", "WORKSHOP_LAB_SOURCE",
                "WORKSHOP_TRYOUT_HOMES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    source = (WORKSHOP / "jupyterhub_config.py").read_text()
    code = compile(source, str(WORKSHOP / "jupyterhub_config.py"), "exec")
    config = Config()
    namespace: dict[str, Any] = {"get_config": lambda: config, "__file__": str(WORKSHOP / "jupyterhub_config.py")}
    exec(code, namespace)  # JupyterHub loads its config the same way
    return config, namespace


def test_the_hub_config_gives_each_attendee_a_process_a_lab_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    c, _ = _load_config({"WORKSHOP_SHARED_PASSWORD": "room-pw", "WORKSHOP_ATTENDEES": "alice, bob",
                         "WORKSHOP_INSTRUCTORS": "teacher"}, monkeypatch)
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"
    assert c.JupyterHub.authenticator_class == "dummy" and c.DummyAuthenticator.password == "room-pw"
    assert c.Authenticator.allowed_users == {"alice", "bob", "teacher"}
    assert c.Authenticator.admin_users == {"teacher"}
    # Each attendee's lab state under their own home: "~" is expanded by labsupport with their HOME.
    lab_home = c.Spawner.environment["LAB_HOME"]
    assert lab_home.startswith("~/")
    home = Path("/home/alice")
    assert Path(lab_home).expanduser() != Path(lab_home)
    assert str(Path(lab_home.replace("~", str(home), 1))).startswith(str(home) + "/")
    # JupyterLab opens on lesson 00 of the attendee's copy; the news config the lab ships exists.
    match = re.fullmatch(r"/lab/tree/(.+)", c.Spawner.default_url)
    assert match and match.group(1).endswith("notebooks/00_start_here.ipynb")
    assert (REPO / "notebooks" / "00_start_here.ipynb").is_file()
    assert Path(c.Spawner.environment["JUPYTER_CONFIG_PATH"]).name == "jupyter_config"
    assert (REPO / "labsupport" / "teaching" / "jupyter_config").is_dir()
    assert c.Spawner.mem_limit and c.Spawner.cpu_limit > 0
    assert callable(c.Spawner.pre_spawn_hook) and callable(c.Spawner.post_stop_hook)


def test_the_hub_config_without_a_shared_password_keeps_jupyterhubs_authenticator(monkeypatch: pytest.MonkeyPatch) -> None:
    c, _ = _load_config({}, monkeypatch)
    assert "authenticator_class" not in c.JupyterHub
    assert "allowed_users" not in c.Authenticator


def test_the_pre_spawn_hook_copies_the_lab_into_the_attendees_home(monkeypatch: pytest.MonkeyPatch) -> None:
    user = pwd.getpwuid(os.geteuid()) if os.geteuid() != 0 else pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory(prefix="lab-hub-") as tmp:
        source, home = Path(tmp) / "source", Path(tmp) / "home"
        for name in ("notebooks/00_start_here.ipynb", ".git/HEAD", ".venv/bin/python", ".lab/server.json",
                     "build/index.html", "labsupport/__init__.py"):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_text(name)
        home.mkdir()
        _, ns = _load_config({"WORKSHOP_LAB_SOURCE": str(source)}, monkeypatch)
        ns["_home_of"] = lambda name: home
        spawner = SimpleNamespace(user=SimpleNamespace(name=user.pw_name))
        ns["copy_lab"](spawner)
        copy = home / "isolation-lab"
        assert (copy / "notebooks" / "00_start_here.ipynb").is_file() and (copy / ".git" / "HEAD").is_file()
        for left_out in (".venv", ".lab", "build"):
            assert not (copy / left_out).exists(), f"{left_out} was copied"
        assert {p.stat().st_uid for p in (copy, *copy.rglob("*"))} == {user.pw_uid}
        # A second login keeps the attendee's edits.
        (copy / "notebooks" / "00_start_here.ipynb").write_text("edited")
        ns["copy_lab"](spawner)
        assert (copy / "notebooks" / "00_start_here.ipynb").read_text() == "edited"
        # The post-stop hook does nothing for a lab that never started.
        ns["stop_lab"](spawner)


def test_the_try_out_mode_runs_every_attendee_as_the_hubs_user_each_with_a_home(monkeypatch: pytest.MonkeyPatch,
                                                                                tmp_path: Path) -> None:
    source, homes = tmp_path / "source", tmp_path / "homes"
    (source / "notebooks").mkdir(parents=True)
    (source / "notebooks" / "00_start_here.ipynb").write_text("{}")
    c, ns = _load_config({"WORKSHOP_LAB_SOURCE": str(source), "WORKSHOP_TRYOUT_HOMES": str(homes)}, monkeypatch)
    assert c.JupyterHub.spawner_class == "simple"  # JupyterHub's SimpleLocalProcessSpawner: no system users
    assert c.SimpleLocalProcessSpawner.home_dir_template == str(homes.resolve() / "{username}")
    assert ("--allow-root" in (c.Spawner.args if "args" in c.Spawner else [])) == (os.geteuid() == 0)
    assert "command" not in c.ConfigurableHTTPProxy  # no build/node/ in this source: the proxy on PATH
    ns["copy_lab"](SimpleNamespace(user=SimpleNamespace(name="alice")))  # "alice" is no system user here
    copy = homes / "alice" / "isolation-lab"
    assert (copy / "notebooks" / "00_start_here.ipynb").is_file()
    assert {p.stat().st_uid for p in (copy, *copy.rglob("*"))} == {os.geteuid()}
    # With the proxy make hub-deps installs into the checkout, the hub uses that one.
    proxy = source / "build" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    proxy.parent.mkdir(parents=True)
    proxy.write_text("#!/bin/sh\n")
    c, _ = _load_config({"WORKSHOP_LAB_SOURCE": str(source)}, monkeypatch)
    assert c.ConfigurableHTTPProxy.command == [str(proxy)]
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"


def _memory(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)([KMGT]?)", str(text))
    assert found, f"not a memory size: {text!r}"
    number, unit = found.groups()
    return float(number) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[unit]


def test_the_z2jh_values_use_the_repo2docker_image_with_limits_per_attendee() -> None:
    values = yaml.safe_load((WORKSHOP / "z2jh-values.yaml").read_text())
    single = values["singleuser"]
    assert single["defaultUrl"] == "/lab/tree/notebooks/00_start_here.ipynb"
    assert single["image"]["name"] and "tag" in single["image"]
    assert single["uid"] != 0
    assert 0 < _memory(single["memory"]["guarantee"]) <= _memory(single["memory"]["limit"])
    assert 0 < single["cpu"]["guarantee"] <= single["cpu"]["limit"]
    assert single["extraEnv"]["LAB_HOME"].startswith(single["notebookDir"] + "/")
    # The image is the one repo2docker builds, its checkout where notebookDir says.
    assert f"--target-repo-dir {single['notebookDir']}" in (WORKSHOP / "z2jh-values.yaml").read_text()
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"]


def test_the_guide_says_how_to_start_check_and_reset() -> None:
    guide = (WORKSHOP / "GUIDE.md").read_text()
    for needle in ("jupyterhub -f workshop/jupyterhub_config.py", "labsupport doctor", "labsupport reset",
                   "z2jh-values.yaml", "cluster files", "WORKSHOP_TRYOUT_HOMES", "make hub-deps", "systemdspawner",
                   "KubeSpawner"):
        assert needle in guide, f"GUIDE.md does not mention {needle}"


def test_the_hubs_proxy_is_pinned_and_make_test_browser_installs_it() -> None:
    import json

    package = json.loads((WORKSHOP / "proxy" / "package.json").read_text())
    lock = json.loads((WORKSHOP / "proxy" / "package-lock.json").read_text())
    version = package["dependencies"]["configurable-http-proxy"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"package.json: configurable-http-proxy {version!r} is not pinned"
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == version
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test-browser:.*\bhub-deps\b", makefile, re.M), "make test-browser does not install the hub"
    assert "npm ci" in makefile and '-e ".[workshop]"' in makefile
