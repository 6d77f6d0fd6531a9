"""JupyterHub for an Isolation Lab workshop on one server (The Littlest JupyterHub style).

Every attendee is a system user with their own JupyterLab process (JupyterHub's default spawner,
LocalProcessSpawner), their own copy of the lab in ~/isolation-lab (made on their first login from
the instructor's checkout), their own lab state (LAB_HOME under their home) and so their own
PostgreSQL, started by lesson 00 on first use and run as that attendee. See GUIDE.md beside this file.

Plain JupyterHub:  sudo WORKSHOP_ATTENDEES=alice,bob WORKSHOP_SHARED_PASSWORD=... jupyterhub -f workshop/jupyterhub_config.py
A try-out on your own machine (attendees need not be system users): WORKSHOP_TRYOUT_HOMES, below and in GUIDE.md.
The Littlest JupyterHub: copy this file to /opt/tljh/config/jupyterhub_config.d/isolation-lab.py
(TLJH then keeps its own authenticator and systemdspawner, which enforces the limits below).

The lab must be installed NON-editable into the Python the attendees' servers run
(`pip install -c constraints.txt "/opt/isolation-lab[lab]"`): an editable install would make every
attendee's kernel find the instructor's checkout, and so share one notebooks/ and one build/.
"""

import os
import pwd
import shutil
import subprocess
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - JupyterHub provides it when it loads this file

LAB_SOURCE = Path(os.environ.get("WORKSHOP_LAB_SOURCE", "/opt/isolation-lab"))  # the instructor's checkout
LAB_FOLDER = "isolation-lab"  # each attendee's copy, in their home
ATTENDEES = {n.strip() for n in os.environ.get("WORKSHOP_ATTENDEES", "").split(",") if n.strip()}
# The labsupport command of the attendees' Python (TLJH: /opt/tljh/user/bin/labsupport), for stop_lab.
LABSUPPORT = os.environ.get("WORKSHOP_LABSUPPORT") or shutil.which("labsupport") or "/opt/tljh/user/bin/labsupport"
INSTRUCTORS = {n.strip() for n in os.environ.get("WORKSHOP_INSTRUCTORS", "").split(",") if n.strip()}
# A try-out (your own machine, or tests/workshop/test_hub.py): attendees are not system users; each gets the home
# <WORKSHOP_TRYOUT_HOMES>/<name> and every server runs as the hub's own user (JupyterHub's
# SimpleLocalProcessSpawner). Each still has their own copy, lab state and PostgreSQL, but nothing else
# separates them: never for a room.
TRYOUT_HOMES = os.environ.get("WORKSHOP_TRYOUT_HOMES")
# JupyterHub's proxy as `make hub-deps` installs it (pinned, in the checkout's build/node/); else the one on PATH.
PROXY = LAB_SOURCE / "build" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"

# -- who may log in. With WORKSHOP_SHARED_PASSWORD: any listed attendee, one password for the room
# (JupyterHub's DummyAuthenticator; fine for a room, not for the internet). Without: the system's
# passwords (PAM, JupyterHub's default). Either way each attendee must exist as a system user
# (`useradd -m NAME`, see GUIDE.md): the local spawner starts their server as that user.
if os.environ.get("WORKSHOP_SHARED_PASSWORD"):
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ["WORKSHOP_SHARED_PASSWORD"]
if ATTENDEES:
    c.Authenticator.allowed_users = ATTENDEES | INSTRUCTORS
c.Authenticator.admin_users = INSTRUCTORS  # admins can stop and start any attendee's server from /hub/admin

# -- one process per attendee, as that attendee
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
if TRYOUT_HOMES:
    c.JupyterHub.spawner_class = "simple"  # as the hub's user, HOME = <WORKSHOP_TRYOUT_HOMES>/<name>
    c.SimpleLocalProcessSpawner.home_dir_template = str(Path(TRYOUT_HOMES).resolve() / "{username}")
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]  # JupyterLab refuses root without it; the lab runs PostgreSQL unprivileged
if PROXY.exists():
    c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = f"/lab/tree/{LAB_FOLDER}/notebooks/00_start_here.ipynb"
c.Spawner.environment = {
    # The attendee's own lab state; labsupport expands "~" with the attendee's HOME. Under it, the
    # cluster's files go to /dev/shm when it has a GiB free (else on disk: labsupport doctor says which).
    "LAB_HOME": f"~/{LAB_FOLDER}/.lab",
    # JupyterLab's news pop-up and update check off, as `labsupport lab` does.
    "JUPYTER_CONFIG_PATH": str(LAB_SOURCE / "labsupport" / "teaching" / "jupyter_config"),
}
c.Spawner.http_timeout = 120  # a loaded machine at 9:00, thirty logins at once
c.Spawner.start_timeout = 180

# -- resource limits per attendee. LocalProcessSpawner does NOT enforce them (it only passes them on as
# MEM_LIMIT / CPU_LIMIT for JupyterLab's resource display); systemdspawner (The Littlest JupyterHub's
# spawner) and Kubernetes (Zero to JupyterHub) do. Sized from lesson 04's nested pytest -n 2 runs and
# the attendee's own PostgreSQL; measure with `labsupport bench workshop` before trusting (GUIDE.md).
c.Spawner.mem_limit = "3G"
c.Spawner.mem_guarantee = "1G"
c.Spawner.cpu_limit = 2.0
c.Spawner.cpu_guarantee = 0.5

_SKIP = shutil.ignore_patterns(".venv", ".lab", "build", "__pycache__", "*.egg-info", ".ipynb_checkpoints")


def _home_of(name: str) -> Path:
    if TRYOUT_HOMES:
        return Path(TRYOUT_HOMES).resolve() / name
    return Path(pwd.getpwnam(name).pw_dir)


def _as_attendee(name: str) -> dict:
    """subprocess keywords that run a command as the attendee (none in a try-out: they are the hub's user)."""
    if TRYOUT_HOMES:
        return {}
    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def copy_lab(spawner) -> None:
    """Before an attendee's first server: their own copy of the lab (notebooks, demo app, git history),
    owned by them. An existing copy is left as it is: their edits survive a restart."""
    name = spawner.user.name
    target = _home_of(name) / LAB_FOLDER
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)  # a try-out's home is made here (system users have theirs)
    partial = target.with_name(f".{LAB_FOLDER}.copying")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(LAB_SOURCE, partial, symlinks=True, ignore=_SKIP)
    owner = _as_attendee(name)
    if owner:
        for path in (partial, *partial.rglob("*")):
            os.lchown(path, owner["user"], owner["group"])
    partial.rename(target)


def stop_lab(spawner) -> None:
    """After an attendee's server stops: stop their PostgreSQL too, as them. It runs on its own (the lab
    leaves it running between notebooks), so stopping their process alone would leave it behind.
    systemdspawner stops it anyway with the attendee's whole unit; this covers the local spawner."""
    name = spawner.user.name
    lab = _home_of(name) / LAB_FOLDER
    if not (lab / ".lab" / "server.json").exists():
        return  # never started
    env = {"HOME": str(_home_of(name)), "LAB_HOME": str(lab / ".lab"), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    # --force: their kernels went with their server; a kernel still shutting down must not keep PostgreSQL up
    result = subprocess.run([LABSUPPORT, "down", "--force"], cwd=lab, env=env, capture_output=True, text=True, timeout=120,
                            check=False, **_as_attendee(name))
    said = (result.stderr or result.stdout).strip()
    if result.returncode != 0:
        spawner.log.error("labsupport down for %s failed: %s", name, said)
    else:
        spawner.log.info("labsupport down for %s: %s", name, said)


c.Spawner.pre_spawn_hook = copy_lab
c.Spawner.post_stop_hook = stop_lab
