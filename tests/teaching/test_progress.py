"""The lessons' progress bars: on stdout in a notebook's kernel (stderr there is a red box), on stderr elsewhere."""

from __future__ import annotations

import sys
import types

import pytest

from labsupport.teaching import progress


@pytest.mark.parametrize("in_kernel", [True, False])
def test_the_bar_goes_where_the_reader_sees_ordinary_output(in_kernel: bool, monkeypatch, capsys) -> None:
    if in_kernel:
        monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    else:
        monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    with progress.bar(3, "pytest runs", "run") as bar:
        bar.update(3)
    out, err = capsys.readouterr()
    shown, silent = (out, err) if in_kernel else (err, out)
    assert "pytest runs" in shown and "3/3" in shown, (out, err)
    assert silent == ""
