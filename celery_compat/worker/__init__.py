"""The worker behind ``manage.py runworker``, ``testing.drain`` and ``start_worker``.

- :mod:`.worker`: ``WorkController``: settings, start-up and shutdown order.
- :mod:`.consumer`: the consume loop, revokes, expiry, acks.
- :mod:`.request`: one received message and the ``task.request`` it gives.
- :mod:`.execution`: running one task (``trace_task``) and logging it.
- :mod:`.pools` / :mod:`.prefork`: ``solo``, ``threads`` and ``prefork`` pools.
- :mod:`.control`: remote control (pidbox) commands.
- :mod:`.shutdown`: warm and cold shutdown on signals.
"""

from .worker import WorkController, Worker, anon_nodename, nodename

__all__ = ["WorkController", "Worker", "nodename", "anon_nodename"]
