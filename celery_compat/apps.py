"""The Django app holding results: ``INSTALLED_APPS += ["celery_compat"]``."""

from django.apps import AppConfig


class CeleryCompatConfig(AppConfig):
    """Task results, group results and chord counters (django-celery-results' models)."""

    name = "celery_compat"
    # Not "django_celery_results": both apps can then be installed while a
    # project copies its old results over.
    label = "celery_compat"
    verbose_name = "Tasks and results"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Nothing to do: importing task modules, building the app or opening
        # connections here would run before the project is ready for it.
        pass
