"""Kill database sessions, as a server restart does (PostgreSQL and MariaDB only)."""

from __future__ import annotations

from django.db import connections


def terminate_other_sessions(using: str = "default") -> int:
    """Kill every other session on the test database, from ``using``'s session; returns how many.

    Run it from a thread of its own when the caller's own session must die
    too (a thread has its own connection).
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]
        cursor.execute(
            "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        )
        ids = [row[0] for row in cursor.fetchall()]
        for session in ids:
            try:
                cursor.execute(f"KILL CONNECTION {int(session)}")
            except Exception:  # it ended meanwhile
                pass
        return len(ids)


def terminate_all_sessions_from_a_thread() -> int:
    """Kill every session of the test database but a fresh one of a helper thread (the caller's too)."""
    import threading

    killed: list[int] = []

    def kill() -> None:
        try:
            killed.append(terminate_other_sessions())
        finally:
            connections.close_all()

    thread = threading.Thread(target=kill)
    thread.start()
    thread.join()
    return killed[0]
