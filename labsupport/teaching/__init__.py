"""The teaching room: what the notebooks and the lab's maintainers use, never the pytest plugin.

    lesson           what a notebook imports: the names of lab, outcomes, expected_failures, suites, cells, display
    notebooks        running the notebooks headless with papermill, and build/index.html
    doctor/          ``labsupport doctor`` and ``doctor --parallel SUITE``: one PASS/FAIL line per check
    bench/           ``labsupport bench``: the server, isolation, parallel, lab and workshop figures
    jupyter_lab      ``labsupport lab``'s JupyterLab command line and settings (news pop-up off)

It needs the ``[lab]`` extra (JupyterLab, papermill, ...) only where a function imports it.
"""
