"""The notebook runner: a kernel that fails to start is retried once and the retry reported; a
cell that fails is never retried into a pass. Real kernels, real papermill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from labsupport.teaching import notebooks


def _notebook(folder: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = None", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    path = folder / "99_probe.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_kernel_that_fails_to_start_is_retried_once_and_reported(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real = notebooks._kernel_manager_class
    launches: list[int] = []

    def flaky(log: Path) -> type:
        base = real(log)

        class FirstLaunchFails(base):  # type: ignore[misc, valid-type]  # a class made at run time
            async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
                launches.append(1)
                if len(launches) == 1:
                    raise RuntimeError("Kernel died before replying to kernel_info")
                await super()._async_launch_kernel(kernel_cmd, **kw)

        return FirstLaunchFails

    monkeypatch.setattr(notebooks, "_kernel_manager_class", flaky)
    result = notebooks.execute(_notebook(tmp_path, "print('ran')"), tmp_path / "out", {})

    assert result.ok, result.error
    assert len(launches) == 2
    assert "Kernel died before replying" in result.retried
    assert "kernel start retried once" in result.line()


def test_a_failing_cell_is_not_retried(tmp_path: Path) -> None:
    result = notebooks.execute(_notebook(tmp_path, "raise ValueError('a real failure')"), tmp_path / "out", {})

    assert not result.ok and result.retried == ""
    assert "ValueError: a real failure" in result.error
