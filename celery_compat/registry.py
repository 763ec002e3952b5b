"""The task registry: name → task, ``NotRegistered`` for unknown names."""

from __future__ import annotations

from typing import Any

from .exceptions import NotRegistered


class TaskRegistry(dict):
    def __missing__(self, key: str) -> Any:
        raise NotRegistered(key)

    def register(self, task: Any) -> None:
        task = task() if isinstance(task, type) else task
        self[task.name] = task

    def unregister(self, name: str) -> None:
        try:
            self.pop(getattr(name, "name", name))
        except KeyError:
            raise NotRegistered(name) from None

    def regular(self) -> dict[str, Any]:
        return {name: task for name, task in self.items() if not name.startswith("celery.")}
