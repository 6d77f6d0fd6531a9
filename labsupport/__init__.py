"""labsupport: the Isolation Lab's support package, in three rooms around a small core.

- the core (``errors``, ``settings``, ``urls``, ``connection``, ``databases``, ``schema``): every room uses it;
- ``server``: the launcher, the lab's own PostgreSQL or an existing one behind one interface;
- ``pytest_plugin``: the take-home plugin (entry point ``pytest11``); it imports nothing of
  ``teaching`` and, at load time, nothing of ``server``;
- ``teaching``: what the notebooks use (lesson helpers, the notebook runner, doctor, bench);
- ``cli``: the ``labsupport`` command.

Importing this package imports only ``errors``.
"""

from .errors import LabError

__all__ = ["LabError"]
__version__ = "0.1.0"
