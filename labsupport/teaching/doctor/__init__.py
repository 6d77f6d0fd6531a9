"""``labsupport doctor``: checks that say PASS or FAIL in one line each, with the remedy.

    lab       ``labsupport doctor``: Python, packages, kernel, notebooks, the server and a template clone
    parallel  ``labsupport doctor --parallel [SUITE]``: parallel runs of a suite, checked from structured data
    probe     the pytest plugin the parallel doctor loads into the suite it checks
"""
