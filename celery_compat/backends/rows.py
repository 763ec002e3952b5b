"""django-celery-results' row format, shared by the database and memory backends.

A result is one row of text columns (see :class:`celery_compat.models.TaskResult`).
:class:`RowFormat` turns a result into the column values and a row back
into the meta dict, so that the in-memory backend behaves exactly like the
database one without a database.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

from django.utils import timezone
from kombu.exceptions import DecodeError

from .. import _state, states
from .base import BaseBackend

__all__ = ["RowFormat", "EXTENDED_COLUMNS"]

#: Columns filled only with ``result_extended``.
EXTENDED_COLUMNS = ("periodic_task_name", "task_name", "task_args", "task_kwargs", "worker", "retries", "queue")


class RowFormat(BaseBackend):
    """Encoding of results into text columns, and rows back into meta dicts."""

    def encode_content(self, data: Any) -> tuple[str, str, str]:
        """``(content_type, content_encoding, text)``; binary payloads become base64 text."""
        content_type, content_encoding, content = self._encode(data)
        if content_encoding == "binary":
            content = base64.b64encode(content).decode("ascii")  # type: ignore[arg-type]
        return content_type, content_encoding, content  # type: ignore[return-value]

    def decode_content(self, obj: Any, content: str | None) -> Any:
        """Decode a column of row ``obj`` by the row's own ``content_type``; empty stays None.

        Raises:
            kombu.exceptions.ContentDisallowed: the row's content type is not
                in ``result_accept_content`` (e.g. pickle when only JSON is).
        """
        if not content:
            return None
        payload: str | bytes = content
        if obj.content_encoding == "binary":
            payload = base64.b64decode(content)
        return self.decode(payload, obj.content_type or None, obj.content_encoding or None)

    @functools.cached_property
    def _childless_meta(self) -> str:
        """The ``meta`` column of a task that published nothing and set no ``request.meta``."""
        return self.encode_content({"children": []})[2]

    def extended_values(self, request: Any) -> dict[str, Any]:
        """The ``result_extended`` columns for ``request`` (all None when not extended)."""
        values: dict[str, Any] = dict.fromkeys(EXTENDED_COLUMNS)
        if request is None or not self.app.conf.result_extended:
            return values
        # Protocol 2 messages carry argsrepr/kwargsrepr; protocol 1 only args/kwargs.
        task_args = getattr(request, "argsrepr", None)
        if task_args is None:
            task_args = getattr(request, "args", None)
        task_kwargs = getattr(request, "kwargsrepr", None)
        if task_kwargs is None:
            task_kwargs = getattr(request, "kwargs", None)
        properties = getattr(request, "properties", None) or {}
        delivery_info = getattr(request, "delivery_info", None) or {}
        values.update(
            periodic_task_name=getattr(request, "periodic_task_name", None) or properties.get("periodic_task_name"),
            task_name=getattr(request, "task", None),
            task_args=None if task_args is None else self.encode_content(task_args)[2],
            task_kwargs=None if task_kwargs is None else self.encode_content(task_kwargs)[2],
            worker=getattr(request, "hostname", None),
            retries=getattr(request, "retries", None),
            queue=delivery_info.get("routing_key"),
        )
        return values

    def row_values(self, task_id: str, result: Any, state: str, traceback: str | None, request: Any) -> dict[str, Any]:
        """Every column written for one stored result (``result`` already through ``encode_result``)."""
        content_type, content_encoding, content = self.encode_content(result)
        if request is None:
            task = _state.get_current_task()
            request_meta = getattr(task.request, "meta", None) if task is not None else None
        else:
            request_meta = getattr(request, "meta", None)
        children = self.current_task_children(request)
        if not request_meta and children == []:
            encoded_meta = self._childless_meta  # most tasks: the same text every time
        else:
            encoded_meta = self.encode_content({**(request_meta or {}), "children": children})[2]
        # The workflow links, whatever result_extended says (None: leave the stored ones).
        parent_id = getattr(request, "parent_id", None) if request is not None else None
        root_id = getattr(request, "root_id", None) if request is not None else None
        return {
            "task_id": task_id,
            "status": state,
            "result": content,
            "traceback": traceback,
            "meta": encoded_meta,
            "content_type": content_type,
            "content_encoding": content_encoding,
            "date_started": timezone.now() if state == states.STARTED else None,
            "parent_id": parent_id if isinstance(parent_id, str) else None,
            "root_id": root_id if isinstance(root_id, str) else None,
            **self.extended_values(request),
        }

    def _decode_args(self, obj: Any, content: str | None) -> Any:
        try:
            return self.decode_content(obj, content)
        except (DecodeError, binascii.Error, ValueError):
            return content  # not written by a backend: show it as it is

    def meta_from_row(self, obj: Any) -> dict[str, Any]:
        """The meta dict of row ``obj`` (a saved or unsaved ``TaskResult``, or a look-alike).

        Keys: ``task_id, status, result, traceback, children, date_done``,
        the extended ``name, args, kwargs, worker, retries, queue``,
        django-celery-results' ``task_name, task_args, task_kwargs``, plus
        ``date_started``, ``periodic_task_name`` and any ``request.meta`` key
        the task stored.
        """
        stored_meta = self.decode_content(obj, obj.meta)
        args = self._decode_args(obj, obj.task_args)
        kwargs = self._decode_args(obj, obj.task_kwargs)
        meta: dict[str, Any] = dict(stored_meta) if isinstance(stored_meta, dict) else {}
        meta.setdefault("children", None)
        meta.update(
            task_id=obj.task_id,
            status=obj.status,
            result=self.decode_content(obj, obj.result),
            traceback=obj.traceback,
            date_done=obj.date_done,
            date_started=obj.date_started,
            name=obj.task_name,
            args=args,
            kwargs=kwargs,
            worker=obj.worker,
            retries=obj.retries,
            queue=obj.queue,
            periodic_task_name=obj.periodic_task_name,
            # django-celery-results' names for the same values
            task_name=obj.task_name,
            task_args=args,
            task_kwargs=kwargs,
        )
        return self.meta_from_decoded(meta)
