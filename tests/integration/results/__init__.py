"""Integration tests of results on a real database (DATABASE_URL)."""
