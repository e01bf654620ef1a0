"""A short schemathesis run: 0 server errors, 0 non-conforming responses.

ZENTRA_FUZZ_EXAMPLES (default 20) cases per operation, positive and negative
data; bench/fuzz.py runs the long version."""
from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from tests.security.fuzzing import CRAFTED_CURSORS, fuzz_run, hostile_shapes_run


def test_fuzz_v1_against_its_schema(tenant_a):
    examples = int(os.environ.get("ZENTRA_FUZZ_EXAMPLES", "20"))
    report = fuzz_run(app=get_wsgi_application(),
                      headers={"Authorization": f"Bearer {tenant_a.api_key.plaintext}"}, max_examples=examples)
    assert report.operations >= 10 and report.cases >= report.operations
    assert not report.server_errors, "\n".join(report.server_errors[:10])
    assert not report.violations, "\n".join(report.violations[:10])


def test_deep_nesting_and_crafted_cursors_never_5xx(tenant_a):
    report = hostile_shapes_run(app=get_wsgi_application(),
                                headers={"Authorization": f"Bearer {tenant_a.api_key.plaintext}"})
    assert report.cases >= 10 * len(CRAFTED_CURSORS)
    assert not report.server_errors, "\n".join(report.server_errors[:10])
    assert report.by_status.get(400, 0) > report.cases // 2, report.by_status
