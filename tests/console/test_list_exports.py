"""The holds and deliveries lists export through the audit exports like every
other list: the page's filters become the export's, the file matches its
manifest, and only people with `export` see the link."""
from __future__ import annotations

import hashlib
import html
import re

import pytest

EXPORT_LINK = re.compile(r'id="export" href="([^"]+)"')


def _export(client, page_path: str, kind: str) -> tuple[bytes, dict]:
    page = client.get(page_path).content.decode()
    link = html.unescape(EXPORT_LINK.search(page).group(1))
    assert f"kind={kind}" in link
    r = client.get(link)
    assert r.status_code == 302
    export_page = r["Location"].split("?")[0]
    body = b"".join(client.get(export_page + "file/").streaming_content)
    return body, client.get(export_page + "manifest/").json()


@pytest.mark.parametrize("page_path, kind, header", [
    ("/console/holds/?status=released", "holds", "hold_id"),
    ("/console/deliveries/?status=failed", "webhook_deliveries", "delivery_id"),
])
def test_list_exports_with_its_filters_and_manifest(console_tenant, page_path, kind, header):
    body, manifest = _export(console_tenant.client("compliance1"), page_path, kind)
    assert manifest["kind"] == kind and manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["filters"]["status"] == page_path.rsplit("=", 1)[1]
    assert body.decode().splitlines()[0].split(",")[0] == header
    assert 'id="export"' not in console_tenant.client("viewer1").get(page_path).content.decode()
