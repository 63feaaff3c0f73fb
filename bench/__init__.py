"""The benchmark harness: `make bench` (full) and `make bench-smoke` (run by `make test`)."""
