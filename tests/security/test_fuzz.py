"""A short schemathesis run: 0 server errors, 0 non-conforming responses.

ZENTRA_FUZZ_EXAMPLES (default 20) cases per operation, positive and negative
data; bench/fuzz.py runs the long version."""
from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from tests.security.fuzzing import fuzz_run


def test_fuzz_v1_against_its_schema(tenant_a):
    examples = int(os.environ.get("ZENTRA_FUZZ_EXAMPLES", "20"))
    report = fuzz_run(app=get_wsgi_application(),
                      headers={"Authorization": f"Bearer {tenant_a.api_key.plaintext}"}, max_examples=examples)
    assert report.operations >= 10 and report.cases >= report.operations
    assert not report.server_errors, "\n".join(report.server_errors[:10])
    assert not report.violations, "\n".join(report.violations[:10])
