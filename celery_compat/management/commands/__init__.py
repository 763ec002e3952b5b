"""``runworker`` (and, later, ``runbeat``)."""
