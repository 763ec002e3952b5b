"""Utilities behind Celery's public helpers.

- :mod:`~celery_compat.utils.log`: ``get_task_logger``, ``get_logger``, ``TaskFormatter``.
- :mod:`~celery_compat.utils.dispatch`: the ``Signal`` class.
- :mod:`~celery_compat.utils.serialization`: exceptions to and from Celery's result dict.
"""
