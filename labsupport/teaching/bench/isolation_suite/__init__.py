"""The isolation benchmark's test suite: one test file, one conftest per strategy (see ``bench.isolation``).

``labsupport bench isolation`` copies ``isobench_models.py``, ``isobench_timing.py`` and one strategy's
folder into a temporary project and runs pytest there, so each strategy is a small project of its own,
configured the way a user would configure it.
"""
