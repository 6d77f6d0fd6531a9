"""labsupport's pytest plugin (entry point ``pytest11``): the take-home room. Fixtures and registration only.

Each piece is inert until configured, except the guard's two checks that need no setting:

    hooks            every hook, once each, calling the pieces below
    settings_table   every setting (flag, ini option, environment variable, default, help), read once
    options          what a setting's value names (env:, module:attribute), worker check, one-line failure
    guard_hooks      lesson 01: the session stops unless the test database (and the app's) is one; the
                     plugin's engines refuse destructive SQL on other databases (guard)
    transactional    lesson 02: rollback fixtures lab_engine -> lab_connection -> lab_session -> lab_client;
                     redirect_every_test: the app's factories and providers redirected in every test, once set
    shapes           the app's session shape (session, sessionmaker, engine, connection, begin) and how each joins the test
    project_hooks    the header lines on the config file, the app and lab_engine
    engines          lesson 03: lab_pooled_engine, lab_nullpool_engine, loop-aware
    worker_hooks     lesson 04: a database per xdist worker (workers), once lab_metadata or lab_migrations is set
    template         what builds the workers' template (SQL before the schema, migrations, metadata), kept or not
    migrations       lab_migrations: the template from alembic upgrade head, compared with lab_metadata
    per_worker_chain lesson 02's chain on the worker's database; worker_id_without_xdist: worker_id
                     without pytest-xdist (modules of plain fixtures that worker_hooks registers)
    server_fixture   lab_server: the lab's own PostgreSQL, for a test that asks for it; lab_start_server
    server_hooks     the lab's server dying mid-run: one line, and the run stops

Rules: this package imports nothing of ``labsupport.teaching``, and ``labsupport.server`` only
inside the hooks and fixtures that need it (a test of the lab checks the import set). The
ini option ``lab_start_server = true`` makes the controlling process take a use of the lab's
server (started if needed) at the session's start, after the guard checked the app's database and
before any worker, and end it at the end (``labsupport.server`` stops the server when the last use
ends, if a use started it); ``server_fixture`` says where its state folder is.
"""

from __future__ import annotations

from .engines import lab_nullpool_engine, lab_pooled_engine  # noqa: F401 - loop-aware engines (lesson 03)
from .server_fixture import lab_server  # noqa: F401 - a fixture
from .transactional import *  # noqa: F403 - rollback-isolation fixtures (lesson 02), see transactional.__all__
from .workers import (  # noqa: F401 - the per-worker databases' fixtures (lesson 04)
    is_parallel_run,
    lab_run_prefix,
    lab_worker_database,
    lab_worker_database_name,
)

pytest_plugins = ["labsupport.pytest_plugin.hooks"]  # every hook of the plugin
