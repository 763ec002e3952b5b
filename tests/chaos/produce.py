"""A producer process of the chaos suite: publishes a known range of task ids.

    python -m tests.chaos.produce --task chaos.record --ledger PATH \\
        --prefix p0 --start 0 --count 5000 [--batch 100] [--seconds 0]

Task ids are ``<prefix>-<n>``. Each batch is published in one transaction;
if the database drops the connection mid-batch (``pg_terminate_backend``,
a restart) the batch was rolled back as a whole and is published again, so
a batch is never half-sent and never sent twice. Prints ``published N``.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--pause", type=float, default=0.0, help="sleep between batches")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.chaos.settings")
    import django

    django.setup()
    from tests.chaos.harness import publish, task_ids

    ids = task_ids(args.prefix, args.start, args.count)
    retries = publish(args.task, args.ledger, ids, args.seconds, args.batch, args.pause)
    published = len(ids)
    print(f"published {published} retries {retries}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
