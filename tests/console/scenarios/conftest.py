"""Back-office scenarios in real headless Chromium, written as the operator
does the task: the browser fixtures of tests/console/browser.py and a page
signed in on the tenant's host."""
from __future__ import annotations

import pytest

from tests.console.browser import console_url, shot, sign_in, sign_out
from tests.console.conftest import PASSWORD

VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture
def signed_in(browser, console_server, console_tenant):
    """`signed_in(username)` -> (page, go) on console_tenant's host; `go(path)`
    opens a console path. Contexts close after the test."""
    contexts = []

    def open_as(username: str):
        ctx = browser.new_context(viewport=VIEWPORT)
        contexts.append(ctx)
        page = ctx.new_page()
        sign_in(page, console_tenant, console_server.port, username, PASSWORD)

        def go(path: str):
            resp = page.goto(console_url(console_tenant, console_server.port, path))
            page.wait_for_load_state("networkidle")
            return resp

        return page, go

    yield open_as
    for ctx in contexts:
        ctx.close()


def submit(page, selector: str) -> None:
    page.click(selector)
    page.wait_for_load_state("networkidle")


__all__ = ["console_url", "shot", "sign_out", "submit"]
