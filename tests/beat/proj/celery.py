"""The project's app, configured from Django settings (``CELERY_*``)."""

from celery_compat import Celery

app = Celery("beatproj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
