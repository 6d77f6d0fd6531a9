"""Flashcards: the lab's demo app, written the way many real FastAPI + SQLAlchemy teams write it.

It is deliberately ordinary: settings from the environment, a global engine and session
factory built in the app's lifespan, and tests that are tempted to reach for them.
"""
