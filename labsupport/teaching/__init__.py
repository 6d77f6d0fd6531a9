"""The teaching room: what the notebooks and the lab's maintainers use, never the pytest plugin.

    lesson           a lesson's server and databases, recorded outcomes, expected failures, nested pytest runs
    notebooks        running the notebooks headless with papermill, and build/index.html
    doctor           ``labsupport doctor``: the environment, one PASS/FAIL line per check
    parallel_doctor  ``labsupport doctor --parallel SUITE``: parallel runs of a suite, checked from structured data
    doctor_probe     the pytest plugin the parallel doctor loads into the suite it checks
    bench            ``labsupport bench server``: medians of the launcher's speed
    jupyter_lab      ``labsupport lab``'s JupyterLab command line and settings (news pop-up off)

It needs the ``[lab]`` extra (JupyterLab, papermill, ...) only where a function imports it.
"""
