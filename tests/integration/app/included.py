"""A task module named by ``Celery(include=[...])`` in test_app_surface."""

from celery_compat import shared_task


@shared_task(name="surface.included")
def included() -> str:
    return "included"
