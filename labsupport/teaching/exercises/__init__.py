"""Lessons' reference answers and hidden checks, kept out of the notebooks folder.

JupyterLab serves ``notebooks/`` and a lesson's ``show_file`` shows files from it: what lives
here is neither beside the learner's stub nor printed by a cell. ``folder("lesson03")`` is
where a lesson's check finds them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["folder"]

HERE = Path(__file__).resolve().parent


def folder(lesson: str) -> Path:
    """This package's folder of one lesson's answers and hidden checks (``lesson03``, ``lesson04``)."""
    path = HERE / lesson
    if not path.is_dir():
        raise FileNotFoundError(f"no exercise files for {lesson!r} in {HERE}")
    return path
