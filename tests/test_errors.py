"""labsupport.errors: the one error type, and a file the lab cannot use said in one line."""

from __future__ import annotations

import errno

from labsupport.errors import LabError, os_error_line


def test_a_lab_error_is_one_line() -> None:
    assert str(LabError("a problem\n   spread over\tlines")) == "a problem spread over lines"


def test_a_full_disk_is_named_as_one_and_a_permission_problem_as_one() -> None:
    full = os_error_line(OSError(errno.ENOSPC, "No space left on device", "/lab/.lab/postgres.log"))
    denied = os_error_line(PermissionError(errno.EACCES, "Permission denied", "/lab/.lab"))
    assert full == "No space left on device (/lab/.lab/postgres.log): free some space there (or set LAB_HOME to a folder with room)"
    assert denied == "Permission denied (/lab/.lab): check LAB_HOME and the permissions there"
