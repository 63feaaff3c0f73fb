"""Prometheus metrics shared by the API and the worker."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "duban_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "duban_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
FINDINGS_INTAKE = Counter(
    "duban_findings_intake_total",
    "Findings posted, by source and outcome (created, replayed, conflict, invalid)",
    ["source", "outcome"],
)
TRANSITIONS = Counter("duban_transitions_total", "Lifecycle transitions applied", ["action"])
LOGIN_ATTEMPTS = Counter("duban_login_attempts_total", "Logins by outcome", ["outcome"])
