"""``python manage.py celery_compat …``: status, inspect, purge, prune.

One module per subcommand; the management command
(``celery_compat/management/commands/celery_compat.py``) only parses
arguments and prints. Output follows Celery's CLI where Celery has the
same command (``celery inspect``, ``celery purge``).
"""
