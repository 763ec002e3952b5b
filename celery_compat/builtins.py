"""Tasks every app has, under Celery's names (a real worker has them too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Celery


def register(app: Celery) -> None:
    @app.task(name="celery.backend_cleanup", shared=False, lazy=False)
    def backend_cleanup() -> None:
        """Delete results older than ``result_expires``."""
        app.backend.cleanup()

    @app.task(name="celery.ping", shared=False, lazy=False)
    def ping() -> str:
        return "pong"

    @app.task(name="celery.accumulate", shared=False, lazy=False)
    def accumulate(*args: Any, index: int | None = None) -> Any:
        """``args[index]``, or all the arguments (the result of a group replacing a task)."""
        return args[index] if index is not None else args

    @app.task(name="celery.map", shared=False, lazy=False)
    def xmap(task: Any, it: Any) -> list[Any]:
        """``[task(item) for item in it]`` in this process."""
        from .canvas import signature

        run = signature(task, app=app).type
        return [run(item) for item in it]

    @app.task(name="celery.starmap", shared=False, lazy=False)
    def xstarmap(task: Any, it: Any) -> list[Any]:
        """``[task(*item) for item in it]`` in this process."""
        from .canvas import signature

        run = signature(task, app=app).type
        return [run(*item) for item in it]

    @app.task(name="celery.chunks", shared=False, lazy=False)
    def chunks(task: Any, it: Any, n: int) -> Any:
        """Publish ``it`` in parts of ``n`` as ``celery.starmap`` messages."""
        from .canvas import chunks as _chunks

        return _chunks.apply_chunks(task, it, n, app=app)

    @app.task(name="celery.chord_unlock", shared=False, lazy=False, bind=True, ignore_result=True,
              max_retries=None)
    def unlock_chord(self: Any, group_id: str, callback: Any, interval: float | None = None,
                     max_retries: int | None = None, result: Any = None, **kwargs: Any) -> None:
        """Real Celery's polling chord path: retry until the header is ready, then run the body.

        celery_compat's own chords never publish it (they count in the
        database); it is here for messages from real Celery producers.
        """
        from .canvas import maybe_signature
        from .result import GroupResult, result_from_tuple

        if interval is None:
            interval = app.conf.result_chord_retry_interval
        header = GroupResult(group_id, [result_from_tuple(r, app=app) for r in result or ()], app=app)
        if not header.ready():
            raise self.retry(countdown=interval, max_retries=max_retries)
        app.backend.trigger_chord_body(maybe_signature(callback, app=app), header)

    @app.task(name="celery.group", shared=False, lazy=False, bind=True)
    def group(self: Any, tasks: Any, result: Any = None, group_id: str | None = None,
              partial_args: Any = None, add_to_parent: bool = True) -> Any:
        """Legacy: apply a group of ``tasks``."""
        from .canvas import group as _group

        sig = _group(tasks, app=app)
        if group_id:
            sig.options["task_id"] = group_id
        res = sig.apply_async(partial_args or (), add_to_parent=add_to_parent)
        return res.as_tuple()

    @app.task(name="celery.chord", shared=False, lazy=False, bind=True)
    def chord(self: Any, header: Any, body: Any, partial_args: Any = (), interval: float | None = None,
              countdown: float = 1, max_retries: int | None = None, eager: bool = False, **kwargs: Any) -> Any:
        """Legacy: apply a chord of ``header`` and ``body``."""
        from .canvas import chord as _chord

        return _chord(header, body, app=app).apply_async(partial_args).id

    @app.task(name="celery.chain", shared=False, lazy=False)
    def chain(*args: Any, **kwargs: Any) -> None:
        """Not a real task (as in Celery): chains are applied by the client."""
        raise NotImplementedError("chain is not a real task")
