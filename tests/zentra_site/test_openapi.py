"""No silent contract drift: the committed docs/openapi.yaml is what the code generates."""
from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.settings import spectacular_settings

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def _generated_yaml() -> str:
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    schema = generator.get_schema(request=None, public=True)
    return OpenApiYamlRenderer().render(schema, renderer_context={}).decode()


def test_committed_openapi_matches_the_code():
    assert COMMITTED.exists(), "docs/openapi.yaml is missing: run `make schema` and commit it."
    generated = _generated_yaml()
    committed = COMMITTED.read_text()
    if yaml.safe_load(generated) != yaml.safe_load(committed):
        diff = "".join(list(difflib.unified_diff(
            committed.splitlines(keepends=True), generated.splitlines(keepends=True),
            "docs/openapi.yaml (committed)", "generated from the code",
        ))[:80])
        raise AssertionError(
            "The API contract changed but docs/openapi.yaml did not: run `make schema`, review the diff "
            f"and commit it.\n{diff}"
        )


def test_schema_and_docs_are_served(api_client):
    schema = api_client().get("/v1/schema")
    assert schema.status_code == 200
    assert yaml.safe_load(schema.content)["info"]["title"] == "Zentra API"
    docs = api_client().get("/v1/docs")
    assert docs.status_code == 200 and b"redoc" in docs.content.lower()
