"""The SSRF guard: at save time (ssrf.url_vet) and at connect time (sender)."""
import ipaddress
import socket

import pytest

from webhooks import errors
from webhooks.sender import http_post
from webhooks.ssrf import address_forbidden_reason, url_parse, url_vet

FORBIDDEN = [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "127.8.9.10", "0.0.0.0", "169.254.169.254",
    "169.254.1.1", "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.255.255.250", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
    "64:ff9b::a00:1", "2002:a00:1::1", "198.18.0.1",
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_private_and_special_addresses_are_refused(address):
    assert address_forbidden_reason(ipaddress.ip_address(address), allow_loopback=False) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "100.128.0.1"])
def test_public_addresses_pass(address):
    assert address_forbidden_reason(ipaddress.ip_address(address), allow_loopback=False) is None


def test_loopback_setting_allows_loopback_only():
    assert address_forbidden_reason(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert address_forbidden_reason(ipaddress.ip_address("::1"), allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0"):
        assert address_forbidden_reason(ipaddress.ip_address(other), allow_loopback=True) is not None


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/hook", "https://169.254.169.254/latest/meta-data/", "http://[::1]:8080/",
    "http://2130706433/", "http://0x7f.0.0.1/", "http://localhost/", "http://100.64.1.1/",
])
def test_url_vet_refuses_forbidden_targets_after_resolving(url):
    with pytest.raises(errors.WebhookUrlForbidden):
        url_vet(url, allow_loopback=False)


@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "file:///etc/passwd", "gopher://127.0.0.1/", "javascript:alert(1)", "//example.com",
    "http://", "https://user:pw@example.com/", "http://example.com/#frag", "http://exa mple.com/",
    "http://example.com:99999/", "x" * 3000,
])
def test_non_http_or_malformed_urls_are_invalid(url):
    with pytest.raises(errors.WebhookUrlInvalid):
        url_parse(url)


def test_host_header_keeps_the_name_and_port():
    assert url_parse("https://hooks.example.com/a?b=1").host_header == "hooks.example.com"
    assert url_parse("http://hooks.example.com:8080/a").host_header == "hooks.example.com:8080"
    assert url_parse("http://[2606:4700::1]:81/").host_header == "[2606:4700::1]:81"
    assert url_parse("http://h.example/a?b=1").target == "/a?b=1"


def _fake_dns(monkeypatch, answers: dict[str, list]):
    """Stand-in resolver for names this sandbox cannot resolve; each call
    pops the next answer, to play a rebinding DNS server."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            ip = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_dns_rebinding_is_caught_at_connect_time(monkeypatch, receiver):
    _fake_dns(monkeypatch, {"rebind.example.test": ["93.184.216.34", "127.0.0.1"]})
    url = f"http://rebind.example.test:{receiver.port}/hooks"
    url_vet(url, allow_loopback=False)  # save time: public answer, accepted
    result = http_post(url=url, headers={}, body=b"{}", timeout=2, allow_loopback=False)
    assert result.status_code is None and "webhook_url_forbidden" in result.error
    assert receiver.requests == []


def test_sender_connects_to_the_vetted_address_with_the_original_host(monkeypatch, receiver):
    _fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    result = http_post(
        url=f"http://hooks.example.test:{receiver.port}/in?x=1", headers={"webhook-id": "evt_1"}, body=b"{}",
        timeout=2, allow_loopback=True,
    )
    assert result.ok, result
    (req,) = receiver.requests
    assert req.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert req.path == "/in?x=1"


def test_sender_refuses_private_targets_without_connecting():
    result = http_post(url="http://10.255.255.1/x", headers={}, body=b"{}", timeout=1, allow_loopback=True)
    assert result.status_code is None and result.error.startswith("webhook_url_forbidden")
    assert result.duration_ms < 500


def test_a_trickling_receiver_is_cut_at_the_deadline():
    """Each byte arrives well within a socket timeout; the whole answer does not."""
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def trickle():
        conn, _ = server.accept()
        conn.recv(65536)
        try:
            for ch in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                conn.sendall(bytes([ch]))
                time.sleep(0.1)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    result = http_post(
        url=f"http://127.0.0.1:{server.getsockname()[1]}/", headers={}, body=b"{}", timeout=1, allow_loopback=True,
    )
    server.close()
    assert result.status_code is None and result.error.startswith("timeout"), result
    assert 900 <= result.duration_ms < 1500


def test_a_body_sent_after_connection_close_headers_is_read(receiver):
    """http.client closes its socket on "Connection: close" before the body is
    read; the excerpt must still come through, in pieces."""

    def respond(req):
        return 500, b"x" * 5000, {}

    receiver.respond = respond
    for _ in range(20):
        result = http_post(url=receiver.url, headers={}, body=b"{}", timeout=5, allow_loopback=True)
        assert result.status_code == 500 and result.excerpt == "x" * 1024, result.error
