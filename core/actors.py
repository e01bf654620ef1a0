from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Actor:
    """Who did it and from where. Every service that mutates takes one.

    kind: "api_key" | "user" | "system"; ref is stable and greppable:
    "api_key:<prefix>", "user:<id>:<username>", "system:<task name>".
    """

    kind: str
    ref: str
    label: str = ""
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(kind="system", ref=f"system:{name}", label=name)

    @classmethod
    def from_request(cls, request) -> "Actor":
        """Build the actor for a Django or DRF request (API key or console user)."""
        ip = request.META.get("REMOTE_ADDR") or None
        ua = (request.META.get("HTTP_USER_AGENT") or "")[:300]
        auth = getattr(request, "auth", None)
        if auth is not None and hasattr(auth, "prefix"):
            return cls(kind="api_key", ref=f"api_key:{auth.prefix}", label=auth.name, ip=ip, user_agent=ua)
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return cls(kind="user", ref=f"user:{user.pk}:{user.get_username()}", label=user.get_username(), ip=ip, user_agent=ua)
        return cls(kind="anonymous", ref="anonymous", ip=ip, user_agent=ua)


def actor_for(request) -> Actor:
    """The signed-in person as the actor of a service call (console, admin).
    On the public host the user is platform staff, a different population
    from any tenant's users, so the ref says so."""
    actor = Actor.from_request(request)
    if getattr(request, "tenant", None) is None and actor.kind == "user":
        user = request.user
        actor = replace(actor, kind="staff", ref=f"staff:{user.pk}:{user.get_username()}")
    return actor
def actor_display(ref: str) -> str:
    """How a person reads an actor ref (the console's tables):
    `user:3:alice` -> alice; `staff:1:bob` -> bob (platform);
    `api_key:ab12` -> API key ab12; `system:x` -> system · x.
    audit.selectors.actor_display_q is its inverse, so filtering by what a
    table shows finds the rows that show it."""
    ref = str(ref or "")
    if ref.startswith("user:") and ref.count(":") >= 2:
        return ref.split(":", 2)[2]
    if ref.startswith("staff:") and ref.count(":") >= 2:
        return ref.split(":", 2)[2] + " (platform)"
    if ref.startswith("api_key:"):
        return "API key " + ref.split(":", 1)[1]
    if ref.startswith("system:"):
        return "system · " + ref.split(":", 1)[1]
    return ref or "—"
