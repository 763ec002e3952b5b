"""What the admin dashboard shows: throughput and failures per minute, queue depths, workers.

Each figure is one aggregate query: tasks finished per minute over the last
hour from ``TaskResult.date_done`` (grouped in the database), messages per
queue and state from the message table. The charts are inline SVG drawn
from these numbers on the server: no JavaScript, nothing fetched from
elsewhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone

from . import states

__all__ = ["Bar", "Chart", "throughput", "throughput_chart", "queue_chart", "dashboard_context"]

#: States that end a task run: what "throughput" counts.
FINISHED_STATES = (states.SUCCESS, states.FAILURE, states.REVOKED)


def throughput(now: dt.datetime | None = None, minutes: int = 60) -> list[dict[str, Any]]:
    """One dict per minute of the last ``minutes`` (oldest first): ``minute``, ``finished``, ``failures``.

    ``finished`` counts results that reached SUCCESS, FAILURE or REVOKED
    in that minute (by ``date_done``), ``failures`` the FAILURE ones.
    Minutes without results are present with zeros.
    """
    from .models import TaskResult

    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    start = end - dt.timedelta(minutes=minutes)
    rows = (
        TaskResult.objects.filter(date_done__gte=start, date_done__lt=end, status__in=FINISHED_STATES)
        .annotate(minute=TruncMinute("date_done", tzinfo=dt.timezone.utc))
        .order_by()
        .values("minute")
        .annotate(finished=Count("id"), failures=Count("id", filter=Q(status=states.FAILURE)))
    )
    counted = {row["minute"].astimezone(dt.timezone.utc).replace(tzinfo=None): row for row in rows}
    series = []
    for index in range(minutes):
        minute = start + dt.timedelta(minutes=index)
        row = counted.get(minute.astimezone(dt.timezone.utc).replace(tzinfo=None))
        series.append({
            "minute": minute,
            "finished": row["finished"] if row else 0,
            "failures": row["failures"] if row else 0,
        })
    return series


@dataclass
class Bar:
    """One drawn bar (SVG user units) and what it stands for."""

    x: float
    y: float
    width: float
    height: float
    value: int
    label: str
    css: str = ""


@dataclass
class Chart:
    """An SVG chart: its size, bars and axis labels."""

    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    max_value: int = 0


def throughput_chart(series: list[dict[str, Any]], width: int = 720, height: int = 160) -> Chart:
    """Bars of finished tasks per minute, with the failures of each minute drawn over them in red."""
    top = max([row["finished"] for row in series] + [1])
    chart = Chart(width, height, max_value=top)
    plot = height - 20
    step = width / max(1, len(series))
    for index, row in enumerate(series):
        label = timezone.localtime(row["minute"]).strftime("%H:%M")
        x = index * step
        for key, css in (("finished", "finished"), ("failures", "failures")):
            value = row[key]
            h = plot * value / top
            chart.bars.append(Bar(round(x + 1, 2), round(plot - h, 2), round(max(step - 2, 1), 2), round(h, 2),
                                  value, f"{label} {key}: {value}", css))
        if index % 10 == 0:
            chart.labels.append({"x": round(x, 2), "y": height - 4, "text": label})
    return chart


def queue_chart(depths: dict[str, dict[str, int]], width: int = 720, row_height: int = 22) -> Chart:
    """One horizontal stacked bar per queue: ready, scheduled, leased, dead."""
    names = sorted(depths)
    totals = {name: sum(depths[name].values()) for name in names}
    top = max(list(totals.values()) + [1])
    label_width = 160
    plot = width - label_width - 60
    chart = Chart(width, max(1, len(names)) * row_height + 4, max_value=top)
    for index, name in enumerate(names):
        y = index * row_height + 2
        x = float(label_width)
        for part in ("ready", "scheduled", "leased", "dead"):
            value = depths[name][part]
            w = plot * value / top
            if value:
                chart.bars.append(Bar(round(x, 2), y, round(w, 2), row_height - 6, value,
                                      f"{name} {part}: {value}", part))
            x += w
        chart.labels.append({"x": 0, "y": y + row_height - 9, "text": name, "total": totals[name],
                             "total_x": round(x + 6, 2)})
    return chart


def dashboard_context(now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard template shows."""
    from django.apps import apps

    from .models import Worker

    now = now or timezone.now()
    series = throughput(now)
    depths: dict[str, dict[str, int]] = {}
    if apps.is_installed("kombu_transport_django"):
        from kombu_transport_django.admin import queue_depths

        depths = queue_depths(now)
    workers = list(Worker.objects.all()[:200])
    online = [worker for worker in workers if worker.is_online(now)]
    finished = sum(row["finished"] for row in series)
    failures = sum(row["failures"] for row in series)
    return {
        "now": now,
        "series": series,
        "throughput_chart": throughput_chart(series),
        "finished_last_hour": finished,
        "failures_last_hour": failures,
        "failure_rate": round(100 * failures / finished, 1) if finished else 0.0,
        "depths": depths,
        "depth_rows": [{"queue": name, **depths[name], "total": sum(depths[name].values())}
                       for name in sorted(depths)],
        "queue_chart": queue_chart(depths),
        "workers_online": online,
        "running_tasks": sum(len(worker.active_tasks()) for worker in online),
    }
