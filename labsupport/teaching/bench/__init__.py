"""``labsupport bench``: the lab's figures, measured on this machine, one module per part.

    server     ``labsupport bench server``: medians of the launcher's speed
    isolation  ``labsupport bench isolation``: one small-test suite under each isolation strategy (``isolation_suite/``)
    parallel   ``labsupport bench parallel``: when xdist workers pay off
    lab        ``labsupport bench lab``: what running the notebooks costs
    workshop   ``labsupport bench workshop``: what one attendee costs a machine
    results    ``build/bench/results.json``, merged key by key, and the machine's facts

Speed never sets the exit status: the figures go to ``build/bench/``; docs/performance.md shows what to expect.
"""
