"""Unit tests of results: result handles and backends on the in-memory backend (no database)."""
