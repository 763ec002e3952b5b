"""Benchmarks: celery_compat and the django:// transport against real Celery + Redis.

``python -m bench`` (or ``python bench/run.py``) runs everything; see
docs/benchmarks.md.
"""
