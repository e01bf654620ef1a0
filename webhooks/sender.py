"""One HTTP POST to a webhook receiver, with the SSRF guard at connect time.

The host is resolved and vetted here, right before connecting, and the socket
is opened to the vetted address itself while the Host header and TLS SNI keep
the original name: what was checked is what is called. Redirects are never
followed (http.client does not), so a 3xx is just a failed attempt.
"""
from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from dataclasses import dataclass

from ledger import errors
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
    def __init__(self, parsed: ParsedUrl, ip: IPAddress, deadline: float) -> None:
        super().__init__(parsed.host, parsed.port, timeout=max(0.001, deadline - time.monotonic()))
        self._parsed = parsed
        self._ip = ip
        self._deadline = deadline
        self.response_class = self._response

    def _response(self, sock, *args, **kwargs) -> http.client.HTTPResponse:
        return http.client.HTTPResponse(_DeadlineSocket(sock, self._deadline), *args, **kwargs)

    def connect(self) -> None:
        sock = socket.create_connection((str(self._ip), self.port), timeout=self._left())
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


def http_post(
    *, url: str, headers: dict[str, str], body: bytes, timeout: float, allow_loopback: bool, excerpt_bytes: int = 1024,
) -> SendResult:
    started = time.monotonic()

    def done(status: int | None = None, excerpt: str = "", error: str = "") -> SendResult:
        return SendResult(status, int((time.monotonic() - started) * 1000), excerpt, _clean(error, 500))

    try:
        parsed, ips = url_vet(url, allow_loopback=allow_loopback)
    except errors.ZentraError as exc:
        return done(error=f"{exc.code}: {exc.detail}")
    conn = _VettedConnection(parsed, ips[0], started + timeout)
    response = None
    try:
        conn.request("POST", parsed.target, body=body, headers={**headers, "Host": parsed.host_header})
        response = conn.getresponse()
        raw = response.read(excerpt_bytes)
        return done(response.status, _clean(raw.decode("utf-8", "replace"), excerpt_bytes))
    except (TimeoutError, socket.timeout):
        return done(error=f"timeout: no complete response within {timeout:g} s")
    except ConnectionRefusedError:
        return done(error=f"connection refused by {ips[0]}:{parsed.port}")
    except ssl.SSLError as exc:
        return done(error=f"tls: {exc.reason or exc}")
    except (OSError, http.client.HTTPException) as exc:
        return done(error=f"network: {type(exc).__name__}: {exc}")
    finally:
        if response is not None:
            response.close()
        conn.close()
