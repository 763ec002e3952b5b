"""Celery's API on Django's database. Not built yet: see the project README."""
