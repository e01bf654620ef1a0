"""Plain-text formatting shared by templates and the evidence read model."""
from __future__ import annotations


def who(actor_ref: str) -> str:
    """`user:3:alice` -> alice; `staff:1:bob` -> bob (platform);
    `api_key:ab12` -> API key ab12; `system:x` -> system · x."""
    ref = str(actor_ref or "")
    if ref.startswith("user:") and ref.count(":") >= 2:
        return ref.split(":", 2)[2]
    if ref.startswith("staff:") and ref.count(":") >= 2:
        return ref.split(":", 2)[2] + " (platform)"
    if ref.startswith("api_key:"):
        return "API key " + ref.split(":", 1)[1]
    if ref.startswith("system:"):
        return "system · " + ref.split(":", 1)[1]
    return ref or "—"
