"""HTTP POSTs to webhook receivers, with the SSRF guard at connect time.

The host is resolved and vetted here, right before connecting, and the socket
is opened to the vetted address itself while the Host header and TLS SNI keep
the original name: what was checked is what is called. Redirects are never
followed (http.client does not), so a 3xx is just a failed attempt.
Connections are kept alive per origin (SenderPool) so a batch of deliveries
to one receiver does not pay a TCP (and TLS) handshake each.
"""
from __future__ import annotations

import http.client
import io
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable

from core import errors
from webhooks.ssrf import IPAddress, ParsedUrl, url_vet

_TLS = ssl.create_default_context()


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    duration_ms: int
    excerpt: str
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _DeadlineExceeded(TimeoutError):
    pass


class _DeadlineReader(io.RawIOBase):
    """Socket reads bounded by one deadline for the whole response: a plain
    socket timeout bounds each read, and a receiver trickling a byte at a time
    could hold a worker far past 15 s."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        # makefile() counts as a reference: http.client closes the connection's
        # socket as soon as it sees "Connection: close", before the body is read.
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _DeadlineExceeded()
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineSocket:
    """What http.client.HTTPResponse reads from (it only calls makefile)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _VettedConnection(http.client.HTTPConnection):
    """Connects to one vetted address; every exchange on it gets its own
    deadline (`arm`), so a kept-alive connection is bounded per attempt."""

    def __init__(self, parsed: ParsedUrl, ip: IPAddress, deadline: float) -> None:
        super().__init__(parsed.host, parsed.port, timeout=max(0.001, deadline - time.monotonic()))
        self._parsed = parsed
        self.ip = ip
        self._deadline = deadline
        self.response_class = self._response
        self.opened = False

    def arm(self, deadline: float) -> None:
        self._deadline = deadline
        if self.sock is not None:
            self.sock.settimeout(self._left())  # bounds sending the request on a reused socket

    def _response(self, sock, *args, **kwargs) -> http.client.HTTPResponse:
        return http.client.HTTPResponse(_DeadlineSocket(sock, self._deadline), *args, **kwargs)

    def connect(self) -> None:
        if self.opened:
            # http.client reopens a closed connection by itself; a new socket
            # must go through the SSRF check again, which only the pool does.
            raise http.client.NotConnected("a vetted connection is not reopened")
        self.opened = True
        sock = socket.create_connection((str(self.ip), self.port), timeout=self._left())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._parsed.scheme == "https":
            sock.settimeout(self._left())
            sock = _TLS.wrap_socket(sock, server_hostname=self._parsed.host)
        sock.settimeout(self._left())  # bounds sending the request
        self.sock = sock

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _DeadlineExceeded()
        return left


def _clean(text: str, limit: int) -> str:
    return text.replace("\x00", "\ufffd")[:limit]


# Exceptions that, on a reused keep-alive connection and before any byte of
# an answer, mean "the receiver had already closed this idle connection".
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.NotConnected)
# A kept-alive connection is reused only while it has been idle this long:
# receivers close idle connections after 5 s or more, so a reuse rarely meets
# a connection closed under it.
IDLE_REUSE_SECONDS = 4.0
# An answer body longer than this is not drained to keep its connection.
_DRAIN_LIMIT = 64 * 1024


class SenderPool:
    """HTTP POSTs to webhook receivers, keeping connections alive per origin.

    The SSRF guard is applied per attempt: the URL is resolved and every
    answer vetted (cached for `vet_ttl` seconds per origin, so a batch to one
    receiver resolves once, not per request), a new connection goes to a
    vetted address, and a kept-alive connection is reused only if its address
    is still in the latest vetted answer. Redirects are never followed
    (http.client does not). Thread-safe: a connection is used by one thread
    at a time.
    """

    def __init__(self, *, keep_alive: bool = True, vet_ttl: float = 1.0) -> None:
        self._keep_alive = keep_alive
        self._vet_ttl = vet_ttl
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[tuple[_VettedConnection, float]]] = {}
        self._vetted: dict[tuple, tuple[float, ParsedUrl, list[IPAddress]]] = {}

    def _vet(self, url: str, allow_loopback: bool) -> tuple[ParsedUrl, list[IPAddress]]:
        key = (url, allow_loopback)
        now = time.monotonic()
        with self._lock:
            hit = self._vetted.get(key)
        if hit is not None and now - hit[0] < self._vet_ttl:
            return hit[1], hit[2]
        parsed, ips = url_vet(url, allow_loopback=allow_loopback)
        with self._lock:
            if len(self._vetted) > 1024:
                self._vetted.clear()
            self._vetted[key] = (now, parsed, ips)
        return parsed, ips

    def _checkout(self, origin: tuple, ips: list[IPAddress]) -> _VettedConnection | None:
        now = time.monotonic()
        stale: list[_VettedConnection] = []
        found = None
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                conn, since = idle.pop()
                if now - since < IDLE_REUSE_SECONDS and conn.ip in ips and conn.sock is not None:
                    found = conn
                    break
                stale.append(conn)
        for conn in stale:
            conn.close()
        return found

    def _checkin(self, origin: tuple, conn: _VettedConnection) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append((conn, time.monotonic()))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()

    def post(
        self, *, url: str, headers: dict[str, str] | Callable[[], dict[str, str]], body: bytes, timeout: float,
        allow_loopback: bool, excerpt_bytes: int = 1024,
    ) -> SendResult:
        """One attempt. `headers` may be a callable, called right before the
        request goes out (a signature over a fresh timestamp)."""
        started = time.monotonic()
        deadline = started + timeout

        def done(status: int | None = None, excerpt: str = "", error: str = "") -> SendResult:
            return SendResult(status, int((time.monotonic() - started) * 1000), excerpt, _clean(error, 500))

        try:
            parsed, ips = self._vet(url, allow_loopback)
        except errors.ZentraError as exc:
            return done(error=f"{exc.code}: {exc.detail}")
        origin = (parsed.scheme, parsed.host, parsed.port, allow_loopback)
        conn = self._checkout(origin, ips) if self._keep_alive else None
        out_headers = {**(headers() if callable(headers) else headers), "Host": parsed.host_header}
        if not self._keep_alive:
            out_headers["Connection"] = "close"
        for reused in ((True, False) if conn is not None else (False,)):
            if not reused:
                conn = _VettedConnection(parsed, ips[0], deadline)
            keep = False
            try:
                conn.arm(deadline)
                try:
                    conn.request("POST", parsed.target, body=body, headers=out_headers)
                    response = conn.getresponse()
                except _STALE:
                    if reused:
                        conn.close()
                        continue  # the receiver closed it while idle: nothing was answered, try a fresh one
                    raise
                try:
                    raw = response.read(excerpt_bytes)
                    if self._keep_alive and not response.will_close and not response.isclosed():
                        response.read(_DRAIN_LIMIT)
                    keep = self._keep_alive and not response.will_close and response.isclosed()
                finally:
                    response.close()
                return done(response.status, _clean(raw.decode("utf-8", "replace"), excerpt_bytes))
            except (TimeoutError, socket.timeout):
                return done(error=f"timeout: no complete response within {timeout:g} s")
            except ConnectionRefusedError:
                return done(error=f"connection refused by {conn.ip}:{parsed.port}")
            except ssl.SSLError as exc:
                return done(error=f"tls: {exc.reason or exc}")
            except (OSError, http.client.HTTPException) as exc:
                return done(error=f"network: {type(exc).__name__}: {exc}")
            finally:
                if keep:
                    self._checkin(origin, conn)
                else:
                    conn.close()
        raise AssertionError("unreachable")  # pragma: no cover


def http_post(
    *, url: str, headers: dict[str, str], body: bytes, timeout: float, allow_loopback: bool, excerpt_bytes: int = 1024,
) -> SendResult:
    """One POST on a fresh connection, closed afterwards."""
    return SenderPool(keep_alive=False, vet_ttl=0).post(
        url=url, headers=headers, body=body, timeout=timeout, allow_loopback=allow_loopback,
        excerpt_bytes=excerpt_bytes,
    )
