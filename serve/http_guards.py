"""What keeps a server worker within bounds, whatever its clients do: the body size and
body-read time limit (an ASGI middleware in front of the app) and the answer cache bounded by
count and bytes. Used by :mod:`airchitect.serve.http`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

#: A body announced over the limit is still read (and dropped) up to this many bytes, so the
#: client gets its 413 instead of a reset connection; beyond it the connection is closed.
DRAIN_LIMIT = 16 << 20
#: Seconds a client has to send the whole body once the headers are in (slow-body clients).
BODY_TIMEOUT_S = 30.0
#: Bytes of answers each worker keeps: a whole network's answer with layers is ~0.4 MB.
CACHE_BYTES = 256 << 20


def one_line(text: str) -> str:
    """``text`` on one line: an error body's ``detail`` is always one."""
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def unparsable(body: bytes) -> str:
    """Why a body failed to parse as JSON where the JSON decoder itself did not say (FastAPI
    answers those with a bare 400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8: byte {exc.start} is 0x{body[exc.start]:02x}; send UTF-8 JSON"
    try:
        json.loads(text)
    except RecursionError:
        return "JSON nested too deeply to parse"
    except ValueError as exc:
        return f"not valid JSON: {one_line(str(exc))}"
    return "could not be parsed as JSON"


# -- body size and time limits ---------------------------------------------------------------------
BODY_KEY = "airchitect.body"  # where BodyLimit leaves the body it read, for error messages


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, whether announced by Content-Length
    or only seen while reading (chunked uploads); 408 for a body not in within ``timeout_s``
    (a client announcing more than it sends would hold the connection forever). The body is
    buffered (it is small by then), kept in the scope for error messages, and replayed to the
    app."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], max_bytes: int,
        timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        announced = None
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                await self._reply(send, 400, "bad_request", "invalid Content-Length header")
                return
        if announced is not None and announced > DRAIN_LIMIT:
            await self._too_large(send, announced)
            return
        body, size, more = bytearray(), 0, True
        over = announced is not None and announced > self.max_bytes
        until = time.monotonic() + self.timeout_s
        while more:
            try:
                message = await asyncio.wait_for(receive(), until - time.monotonic())
            except TimeoutError:
                await self._reply(send, 408, "timeout",
                                  f"not received in full within {self.timeout_s:g} s "
                                  f"({size} bytes came)")  # fmt: skip
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            over = over or size > self.max_bytes
            if over:  # drop the rest, but read it (up to DRAIN_LIMIT) so the 413 gets through
                if not more or size > DRAIN_LIMIT:
                    await self._too_large(send, max(size, announced or 0))
                    return
                continue
            body += chunk

        replayed = False
        scope[BODY_KEY] = bytes(body)

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send, size: int) -> None:
        await self._reply(send, 413, "too_large",
                          f"request body is {size} bytes, more than "
                          f"max_body_bytes={self.max_bytes}")  # fmt: skip

    @staticmethod
    async def _reply(send, status: int, error: str, detail: str) -> None:
        item = {"field": "body", "message": detail, "type": error}
        payload = json.dumps({"error": error, "detail": f"body: {detail}", "errors": [item]})
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload.encode())).encode()),
                                (b"connection", b"close")]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload.encode()})


# -- answers already given -------------------------------------------------------------------------
class AnswerCache:
    """The most recent answers by request, least recently used out first; thread-safe.

    A recommendation is a pure function of the bundle and the request (every search in it is
    seeded), so a repeated request (the same layer shapes recur across networks and users)
    can be answered from memory, byte for byte what computing it again would give.

    Bounded twice: at most ``size`` answers and ``max_bytes`` bytes of keys and answers (a
    whole network's answer is ~1000x a layer's, so a count alone does not bound memory); an
    answer larger than ``max_bytes`` on its own is not kept."""

    def __init__(self, size: int, max_bytes: int = CACHE_BYTES) -> None:
        if size < 0:
            raise ValueError(f"cache size must be >= 0, got {size}")
        if max_bytes < 0:
            raise ValueError(f"cache bytes must be >= 0, got {max_bytes}")
        self.size, self.max_bytes, self.hits, self.misses = size, max_bytes, 0, 0
        self.bytes = 0
        self._answers: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, key: str, answer: bytes) -> None:
        cost = _entry_bytes(key, answer)
        if self.size == 0 or cost > self.max_bytes:
            return
        with self._lock:
            old = self._answers.pop(key, None)
            if old is not None:
                self.bytes -= _entry_bytes(key, old)
            self._answers[key] = answer
            self.bytes += cost
            while len(self._answers) > self.size or self.bytes > self.max_bytes:
                gone_key, gone = self._answers.popitem(last=False)
                self.bytes -= _entry_bytes(gone_key, gone)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"size": self.size, "max_bytes": self.max_bytes, "bytes": self.bytes,
                    "entries": len(self._answers), "hits": self.hits,
                    "misses": self.misses}  # fmt: skip


def _entry_bytes(key: str, answer: bytes) -> int:
    """What an entry holds: its answer and its key (the request's JSON, up to max_body_bytes)."""
    return len(answer) + len(key)
