"""A small asyncio HTTP/1.1 fault-injecting proxy in front of a real FHIR server (tests only).

``FaultProxy(upstream).start()`` listens on 127.0.0.1 in a background thread. Faults queued with
``inject(Fault(...))`` apply, in order, to the next requests whose method and path match; every other
request is forwarded untouched (Host kept, so the server's links point back through the proxy).

Fault kinds:
- ``drop``: close the client's connection without forwarding or answering;
- ``status``: answer ``status`` (500, 503, 429, …) with an OperationOutcome and, when given,
  ``Retry-After``; nothing is forwarded;
- ``delay``: wait ``seconds`` before forwarding (longer than the client's timeout = a timeout);
- ``lose``: forward, let the upstream commit and answer, then close the client's connection
  without sending the answer (the classic lost response);
- ``rewrite``: forward, then answer with ``rewrite(body)`` applied to the upstream's JSON answer
  (asked uncompressed; sent back with a Content-Length).

``persist(fault)`` applies a fault to every matching request until ``clear_persistent()`` (an EHR down
for a long stretch; a node whose clock runs ahead), after the queued one-shot faults. ``Seen.at`` is the
``time.monotonic()`` of each request, so a test can count the requests of a phase.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

Kind = Literal["drop", "status", "delay", "lose", "rewrite"]


@dataclass
class Fault:
    kind: Kind
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    method: str | None = None
    path: str = ""
    rewrite: Callable[[Any], Any] | None = None

    def matches(self, method: str, target: str) -> bool:
        return (self.method is None or self.method == method) and re.search(self.path, target) is not None


@dataclass
class Seen:
    method: str
    target: str
    fault: str
    upstream_status: int | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    persistent: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._base_path = parts.path.rstrip("/")
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._base_path}"

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def persist(self, *faults: Fault, replace: bool = False) -> None:
        """Apply ``faults`` to every matching request (the first that matches wins) until cleared;
        ``replace``: instead of the persistent faults so far, with no request in between."""
        with self._lock:
            if replace:
                self.persistent.clear()
            self.persistent.extend(faults)

    def clear_persistent(self) -> None:
        with self._lock:
            self.persistent.clear()

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for writer in list(self._writers):  # end idle keep-alive connections: their tasks finish
                writer.transport.abort()
            tasks = set(self._tasks)
            if tasks:
                self._loop.run_until_complete(asyncio.wait(tasks, timeout=10))
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    def _next_fault(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.matches(method, target):
                    return self.faults.pop(i)
            return next((f for f in self.persistent if f.matches(method, target)), None)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio keeps only a weak reference once the client hangs up: hold the task until it is done,
        # so a delayed request still reaches the upstream after the client gave up (a real server would)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                if not await self._handle(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handle(self, request: tuple[str, str, bytes], writer: asyncio.StreamWriter) -> bool:
        method, target, raw = request
        fault = self._next_fault(method, target)
        record = Seen(method, target, fault.kind if fault else "pass")
        with self._lock:
            self.seen.append(record)
        if fault and fault.kind == "drop":
            return False
        if fault and fault.kind == "status":
            writer.write(_error_response(fault))
            await writer.drain()
            return True
        if fault and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        if fault and fault.kind == "rewrite":
            raw = _identity_encoding(raw)
        response = await self._forward(raw)
        if fault and fault.kind == "rewrite" and fault.rewrite is not None and response:
            response = _rewritten(response, fault.rewrite)
        record.upstream_status = int(response.split(b" ", 2)[1]) if response else None
        if fault and fault.kind == "lose":
            return False
        writer.write(response)
        await writer.drain()
        return True

    async def _forward(self, raw: bytes) -> bytes:
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        try:
            up_writer.write(raw)
            await up_writer.drain()
            head = await up_reader.readuntil(b"\r\n\r\n")
            headers = _headers(head)
            if "content-length" in headers:
                body = await up_reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = await _read_chunked(up_reader)
            else:
                body = await up_reader.read()
            return head + body
        finally:
            up_writer.close()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    headers = _headers(head)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    # one request per upstream connection: ask the upstream to close after answering
    lines = [ln for ln in head.decode("latin-1").split("\r\n") if ln and not ln.lower().startswith("connection:")]
    raw = ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1") + body
    return method, target, raw


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        out += size_line
        size = int(size_line.split(b";")[0].strip(), 16)
        chunk = await reader.readexactly(size + 2)
        out += chunk
        if size == 0:
            # trailers (rare) end with an empty line; the common case already read "\r\n"
            return out


def _error_response(fault: Fault) -> bytes:
    body = json.dumps({"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "transient", "diagnostics": f"fault proxy: injected {fault.status}"}]}).encode()
    lines = [f"HTTP/1.1 {fault.status} Injected", "Content-Type: application/fhir+json",
             f"Content-Length: {len(body)}"]
    if fault.retry_after is not None:
        lines.append(f"Retry-After: {fault.retry_after}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _identity_encoding(raw: bytes) -> bytes:
    """The request asking for an uncompressed answer (so its JSON can be rewritten)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"accept-encoding:")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _rewritten(response: bytes, rewrite: Callable[[Any], Any]) -> bytes:
    """The upstream's answer with ``rewrite`` applied to its JSON body (non-JSON answers unchanged)."""
    head, _, body = response.partition(b"\r\n\r\n")
    headers = _headers(head + b"\r\n\r\n")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunked(body)
    if headers.get("content-encoding", "").lower() == "gzip":
        body = gzip.decompress(body)
    try:
        doc = json.loads(body)
    except ValueError:
        return response
    new_body = json.dumps(rewrite(doc)).encode()
    skip = (b"transfer-encoding:", b"content-length:", b"content-encoding:")
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(skip)]
    lines.append(f"Content-Length: {len(new_body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + new_body


def _dechunked(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out
