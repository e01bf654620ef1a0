"""Real headless Chromium against a real server process.

The server is `manage.py runserver` in a child process on the test database
(subprocess_env), with DEBUG off, so pages, static files, sessions, CSRF and
tenant routing by hostname behave as in a deployment. Chromium resolves
*.localhost to loopback, so each tenant's console is at
http://<slug>.localhost:<port>/console/."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, die_with_parent, subprocess_env

ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = os.environ.get("ZENTRA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def console_server(django_db_setup, django_db_blocker, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("console-server") / "server.log"
    with django_db_blocker.unblock():
        env = subprocess_env()
    env.update({"ZENTRA_DEBUG": "0", "ZENTRA_SECURE_COOKIES": "0", "ZENTRA_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure", "--skip-checks"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"console server exited early:\n{log.read_text()}")
        try:
            urllib.request.urlopen(base + "/console/login/", timeout=2)
            break
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError(f"console server did not start:\n{log.read_text()}")
    proc.port = port  # type: ignore[attr-defined]
    proc.log_path = log  # type: ignore[attr-defined]
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


# One Playwright and one Chromium per test process. Modules that import the
# fixture each get their own session fixture; a second sync Playwright in the
# same thread would refuse to start, so they all share this one.
_SHARED: dict = {}


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the tests also
    # use the ORM (fixtures, assertions), which Django refuses next to a loop
    # unless told the access is deliberate. Each ORM call here is synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    owner = not _SHARED
    if owner:
        _SHARED["pw"] = sync_playwright().start()
        _SHARED["browser"] = _SHARED["pw"].chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                           headless=True)
    yield _SHARED["browser"]
    if owner:
        _SHARED.pop("browser").close()
        _SHARED.pop("pw").stop()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def console_url(ct, port: int, path: str = "/console/") -> str:
    return f"http://{ct.host}:{port}{path}"


def sign_in(page, ct, port: int, username: str, password: str) -> None:
    page.goto(console_url(ct, port, "/console/login/"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state("networkidle")


def sign_out(page) -> None:
    page.click("form.userbox button[type=submit]")
    page.wait_for_load_state("networkidle")
