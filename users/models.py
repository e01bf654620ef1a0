from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    APPROVER = "approver", "Approver"
    COMPLIANCE = "compliance", "Compliance"
    ADMIN = "admin", "Admin"


# What each role may do in the console. A role is a set of capabilities so
# views ask "can this user post?" rather than comparing role names.
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({"view"}),
    Role.OPERATOR: frozenset({"view", "post", "hold", "webhooks"}),
    Role.APPROVER: frozenset({"view", "approve"}),
    Role.COMPLIANCE: frozenset({"view", "audit", "export"}),
    Role.ADMIN: frozenset({"view", "post", "hold", "webhooks", "approve", "audit", "export", "policies", "admin",
                           "close"}),  # close: accounting periods (closeout)
}


class User(AbstractUser):
    """An operator of one tenant (stored in that tenant's schema) or, in the
    public schema, a member of platform staff."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    def can(self, capability: str) -> bool:
        if not self.is_active:
            return False
        return capability in ROLE_CAPABILITIES.get(self.role, frozenset())
