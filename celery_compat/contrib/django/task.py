"""``celery.contrib.django.task``'s twin.

Celery 5.4+ makes ``DjangoTask`` the default base of a Django project's
tasks for ``delay_on_commit``/``apply_async_on_commit``; here every task has
them, so ``DjangoTask`` is ``Task``.
"""

from ...task import Task

DjangoTask = Task

__all__ = ["DjangoTask"]
