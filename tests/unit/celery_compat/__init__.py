"""Unit tests of celery_compat; some compare against real Celery, a test-only dependency."""
