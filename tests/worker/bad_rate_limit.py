"""An app whose only task has a rate limit no one can parse (``runworker -A`` target)."""

from celery_compat import Celery

app = Celery("bad_rate_limit")


@app.task(name="bad.rate_limited", rate_limit="5/y")
def rate_limited() -> None:
    """Never runs: the worker refuses to start."""
