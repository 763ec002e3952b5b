"""The compatibility suite: scenarios written once, run on Celery and celery_compat."""
