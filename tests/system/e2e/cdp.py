"""A small Chrome DevTools Protocol client for Debian's headless Chromium: one browser
process, one page over one websocket. Enough to navigate, click, type, read the DOM and
take screenshots, with no browser-automation package to install."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

# Debian's package; E2E_CHROMIUM points elsewhere (or nowhere, to see the skip).
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class Browser:
    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="duban-chromium-"))
        self.proc = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.http = ""

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc.stderr is not None
        seen = []
        # Chromium prints its DevTools endpoint on stderr once it listens.
        for line in self.proc.stderr:
            seen.append(line)
            match = re.search(r"DevTools listening on ws://([^/]+)/", line)
            if match:
                self.http = f"http://{match.group(1)}"
                return
            if len(seen) > 200:
                break
        raise AssertionError("Chromium did not start:\n" + "".join(seen))

    async def new_page(self) -> Page:
        async with httpx.AsyncClient() as client:
            r = await client.put(f"{self.http}/json/new?about:blank", timeout=10)
            r.raise_for_status()
        page = Page(r.json()["webSocketDebuggerUrl"])
        await page.open()
        return page

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        # Every URL the page asked for (documents, scripts, styles, images, fetches, and
        # attempts the page's policy blocked), once `record_requests` was called.
        self.requested: list[str] = []
        # Bytes received over the network (compressed, headers included) once the Network
        # domain is on; responses a service worker served from its cache are counted apart.
        self.received = 0
        self.from_worker: set[str] = set()

    async def open(self) -> None:
        self.ws = await websockets.connect(self.ws_url, max_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")

    async def _read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            else:
                method = message.get("method")
                if method == "Network.requestWillBeSent":
                    self.requested.append(message["params"]["request"]["url"])
                elif method == "Network.responseReceived":
                    if message["params"]["response"].get("fromServiceWorker"):
                        self.from_worker.add(message["params"]["requestId"])
                elif (
                    method == "Network.loadingFinished"
                    and message["params"]["requestId"] not in self.from_worker
                ):
                    self.received += int(message["params"]["encodedDataLength"])
                await self._events.put(message)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        message = await asyncio.wait_for(future, 30)
        if "error" in message:
            raise AssertionError(f"{method}: {message['error']}")
        result: dict[str, Any] = message.get("result", {})
        return result

    async def record_requests(self) -> None:
        """From now on, note every request the page makes, and every Content-Security-Policy
        violation (in `window.__cspViolations`, on each page loaded after this call)."""
        await self.send("Network.enable")
        await self.send(
            "Page.addScriptToEvaluateOnNewDocument",
            source="window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => "
            "window.__cspViolations.push("
            "[e.violatedDirective, e.blockedURI, e.sample].join(' ')));",
        )

    async def until(self, expression: str, seconds: float = 30) -> None:
        """Wait until a script expression is true on the page (a viewer that renders after
        the load event)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not await self.js(expression):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not true after {seconds} s: {expression}")
            await asyncio.sleep(0.2)

    async def _wait_event(self, name: str, seconds: float = 30) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                event = await self._events.get()
                if event.get("method") == name:
                    return event

        return await asyncio.wait_for(wait(), seconds)

    def _drain(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()

    async def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    async def goto(self, url: str) -> None:
        self._drain()
        await self.send("Page.navigate", url=url)
        await self._wait_event("Page.loadEventFired")

    async def js(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def navigating(self, expression: str) -> None:
        """Run script that leaves the page (a click on a link or a submit) and wait for the
        next page to load."""
        self._drain()
        await self.js(expression)
        await self._wait_event("Page.loadEventFired")

    async def url(self) -> str:
        return str(await self.js("location.href"))

    async def text(self, selector: str = "body") -> str:
        return str(await self.js(f"document.querySelector({json.dumps(selector)}).innerText"))

    async def fill(self, selector: str, value: str) -> None:
        await self.js(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            f" el.focus(); el.value = {json.dumps(value)}; }})()"
        )

    async def key(self, key: str, code: str, keycode: int) -> None:
        """A real key press through the input pipeline (for keyboard navigation)."""
        for kind in ("keyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=keycode,
            )

    async def set_files(self, selector: str, *paths: Path) -> None:
        """Choose files in a file input, as a person picking photos would (the input's change
        event fires)."""
        found = await self.send(
            "Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)})"
        )
        object_id = found["result"].get("objectId")
        assert object_id, f"no element {selector}"
        await self.send("DOM.setFileInputFiles", files=[str(p) for p in paths], objectId=object_id)

    async def offline(self, offline: bool) -> None:
        """Cut the page off the network (DevTools network emulation), or reconnect it."""
        await self.send(
            "Network.emulateNetworkConditions",
            offline=offline,
            latency=0,
            downloadThroughput=-1,
            uploadThroughput=-1,
        )

    async def allow(self, origin: str, permission: str) -> None:
        """Grant `origin` a permission (geolocation …) as if the person had said yes."""
        await self.send(
            "Browser.setPermission",
            origin=origin,
            permission={"name": permission},
            setting="granted",
        )

    async def geolocation(self, lat: float, lon: float, accuracy: float) -> None:
        await self.send(
            "Emulation.setGeolocationOverride", latitude=lat, longitude=lon, accuracy=accuracy
        )

    async def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = await self.send("Page.captureScreenshot", **params)
        await asyncio.to_thread(_save, path, base64.b64decode(data["data"]))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
