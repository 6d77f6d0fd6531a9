"""labsupport: the Isolation Lab's support package.

It starts a real PostgreSQL for the lessons, manages their databases, runs notebooks
headless and ships the pytest fixtures that the lessons arrive at.
"""

from .errors import LabError
from .server import ServerInfo

__all__ = ["LabError", "ServerInfo"]
__version__ = "0.1.0"
