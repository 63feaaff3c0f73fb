"""A closed-loop HTTP/1.1 keep-alive load generator on raw asyncio streams.

Each client owns one connection and sends its next request as soon as the previous answer
has been read, so `clients` is the concurrency. No HTTP library in the hot path: a request is
a few bytes joined, a response is a status line, headers and a Content-Length body. The
generator's own CPU time (getrusage of this process) is reported so a reader can see it was
not the bottleneck.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        return percentile(self.latencies, p) * 1000


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in {"POST", "PUT", "PATCH"}:
            head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            length = 0
            close = False
            while True:
                line = await self.reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise RuntimeError("chunked responses are not expected here")
            payload = await self.reader.readexactly(length) if length else b""
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


RequestFactory = Callable[[int, int], tuple[str, str, dict[str, str], bytes]]


async def run(
    host: str,
    port: int,
    make_request: RequestFactory,
    *,
    clients: int,
    seconds: float,
    expect: frozenset[int] = frozenset({200, 201}),
) -> Result:
    """`clients` connections send requests for `seconds`; make_request(client, n) builds each."""
    result = Result(clients=clients, seconds=seconds)
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds

    async def client(i: int) -> None:
        conn = Connection(host, port)
        n = 0
        try:
            while loop.time() < stop_at:
                method, path, headers, body = make_request(i, n)
                n += 1
                t0 = time.perf_counter()
                try:
                    status, _ = await conn.request(method, path, headers, body)
                except (OSError, asyncio.IncompleteReadError, ValueError, RuntimeError):
                    result.errors += 1
                    await asyncio.sleep(0.01)
                    continue
                elapsed = time.perf_counter() - t0
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status in expect:
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1
        finally:
            conn.close()

    cpu0, t0 = _cpu(), time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    result.seconds = time.perf_counter() - t0
    result.cpu_seconds = _cpu() - cpu0
    return result


async def sequential(
    host: str,
    port: int,
    make_request: RequestFactory,
    count: int,
) -> Result:
    """One client, `count` requests: latency without queueing, for the read endpoints."""
    result = Result(clients=1, seconds=0)
    conn = Connection(host, port)
    cpu0, t0 = _cpu(), time.perf_counter()
    try:
        for n in range(count):
            method, path, headers, body = make_request(0, n)
            start = time.perf_counter()
            status, _ = await conn.request(method, path, headers, body)
            elapsed = time.perf_counter() - start
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.latencies.append(elapsed)
            else:
                result.errors += 1
    finally:
        conn.close()
    result.seconds = time.perf_counter() - t0
    result.cpu_seconds = _cpu() - cpu0
    return result
