"""Worker tests: in-process drains and runworker subprocesses (tests/worker/proj)."""
