"""Django management commands of celery_compat."""
