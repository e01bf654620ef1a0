"""OpenAPI extras: RFC 9457 error responses on every operation, so the schema
tells integrators every status they can get (the API-key scheme: tenants/schema.py)."""

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable machine-readable error code"},
        "detail": {"type": "string"},
        "correlation_id": {"type": "string"},
    },
    "additionalProperties": True,
}
ERROR_STATUSES = {
    "400": "Invalid request (validation_error, malformed_json, unknown_field, invalid_amount, …)",
    "401": "Missing, unknown or revoked API key",
    "403": "The API key lacks the scope",
    "404": "Not found in this tenant",
    "405": "Method not allowed",
    "409": "Conflict (e.g. idempotency_key_in_use, retryable)",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "Rejected (policy_rejected, idempotency_key_reused, …)",
    "429": "Rate limited",
}


def add_problem_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description,
                                              "content": {"application/problem+json": {"schema": ref}}})
    return result
