"""Assertions shared by the API tests."""
from __future__ import annotations


def assert_problem(response, status: int, code: str) -> dict:
    """The response is RFC 9457 problem+json with this status and stable code."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(f"/errors/{code}")
    assert body["title"] and body["detail"]
    return body
