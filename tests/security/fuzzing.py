"""Schemathesis against the WSGI app, shared by the test (few examples) and
bench/fuzz.py (many). Failures are collected, not raised, so one run reports
every 5xx and every response that does not conform to the schema."""
from __future__ import annotations

from dataclasses import dataclass, field

import base64

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# What "conforms to the schema" means here. Not the semantic checks
# (positive_data_acceptance etc.): a schema-valid body naming an account that
# does not exist is rightly a 400.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@dataclass
class FuzzReport:
    cases: int = 0
    operations: int = 0
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    by_status: dict[int, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def fuzz_run(*, app, headers: dict[str, str], max_examples: int, modes=(GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
             seed: int | None = 0, verbose: bool = False) -> FuzzReport:
    schema = schemathesis.openapi.from_wsgi("/v1/schema", app)
    report = FuzzReport()
    for result in schema.get_all_operations():
        op = result.ok()
        report.operations += 1
        for mode in modes:
            per_mode = max(1, max_examples // len(modes))

            @hypothesis.settings(max_examples=per_mode, deadline=None, database=None, phases=[Phase.generate],
                                 suppress_health_check=list(HealthCheck), derandomize=seed is not None)
            @hypothesis.given(case=op.as_strategy(generation_mode=mode, headers=headers))
            def one(case):
                response = case.call(headers=headers)
                report.cases += 1
                report.by_status[response.status_code] = report.by_status.get(response.status_code, 0) + 1
                where = f"{case.method} {case.formatted_path} [{mode.value}]"
                if response.status_code >= 500:
                    report.server_errors.append(f"{where} -> {response.status_code}: {response.text[:300]}")
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
                    if response.status_code < 500:
                        report.violations.append(f"{where} -> {response.status_code}: {str(exc)[:600]}")
                if verbose:
                    print(f"{response.status_code} {where}")

            try:
                one()
            except hypothesis.errors.Unsatisfiable:
                # Negative data for an operation with nothing to negate but
                # the (fixed) auth header: there is no such case to send.
                report.skipped.append(f"{op.label} [{mode.value}]")
    return report


def _nested(depth: int) -> dict:
    value: object = "leaf"
    for level in range(depth):  # objects and arrays alternating
        value = {"k": value} if level % 2 else [value]
    return {"metadata": value, "k": value}


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Shapes schemathesis does not generate: bodies nested past the parser's
# bound (serializers, json.dumps and jsonb recurse), and cursors that decode
# but carry the wrong types (DRF hands the position to the WHERE clause).
DEEP_DEPTHS = (33, 200, 800)
CRAFTED_CURSORS = (_cursor("p=1' OR 1=1--"), _cursor("p=99999999999999999999999"), _cursor("p=-1"),
                   _cursor("o=-5"), _cursor("r=x"), _cursor("p=%00"), _cursor("p=2026-13-45T99:99"),
                   "not-base64!", "\u00e9t\u00e9")


def hostile_shapes_run(*, app, headers: dict[str, str], report: FuzzReport | None = None) -> FuzzReport:
    """Every operation that takes a body gets deeply nested ones; every list
    that takes a cursor gets crafted cursors. A 5xx is collected."""
    schema = schemathesis.openapi.from_wsgi("/v1/schema", app)
    report = report or FuzzReport()
    for result in schema.get_all_operations():
        op = result.ok()
        report.operations += 1
        path_parameters = {p.name: "x1" for p in op.iter_parameters() if p.location == "path"}
        cases = []
        if op.method.upper() in {"POST", "PUT", "PATCH"}:
            cases += [op.Case(path_parameters=path_parameters, body=_nested(d), media_type="application/json")
                      for d in DEEP_DEPTHS]
        if any(p.name == "cursor" for p in op.iter_parameters()):
            cases += [op.Case(path_parameters=path_parameters, query={"cursor": c}) for c in CRAFTED_CURSORS]
        for case in cases:
            response = case.call(headers=headers)
            report.cases += 1
            report.by_status[response.status_code] = report.by_status.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                report.server_errors.append(f"{case.method} {case.formatted_path} {case.query or ''} "
                                            f"-> {response.status_code}: {response.text[:300]}")
    return report
