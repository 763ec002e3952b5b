"""Eight threads publishing with queue declaration on one SQLite file.

Run as a script with the database path; prints the errors as JSON. Uses its
own settings on purpose: *without* ``transaction_mode="IMMEDIATE"``, the way
a project that never heard of it runs.
"""

import json
import sys
import threading

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["kombu_transport_django"],
    USE_TZ=True,
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sys.argv[1],
            "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"},
        }
    },
)
django.setup()

from django.core.management import call_command  # noqa: E402
from kombu import Connection, Exchange, Queue  # noqa: E402

call_command("migrate", verbosity=0)
errors: list[str] = []


def publish(n: int) -> None:
    with Connection("django://") as conn:
        producer = conn.Producer()
        for i in range(40):
            queue = Queue(f"q{i % 4}", Exchange(f"q{i % 4}", "direct"), f"q{i % 4}")
            try:
                producer.publish({"n": n, "i": i}, exchange=queue.exchange, routing_key=queue.name,
                                 declare=[queue], retry=True)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")


threads = [threading.Thread(target=publish, args=(n,)) for n in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
from kombu_transport_django.models import Message  # noqa: E402

print(json.dumps({"errors": errors, "messages": Message.objects.count()}))
