"""Baseline: no fixtures at all; the tests only await asyncio.sleep(0), each in a new event loop."""
