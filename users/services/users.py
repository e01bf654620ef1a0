from __future__ import annotations

from django.db import connection, transaction

from audit.actors import Actor
from audit.services.audit import audit_record
from ledger import errors
from users.models import Role, User

# What an operator's audit event shows of the account (never the password).
_SHOWN = ("role", "email", "is_active", "is_staff", "is_superuser")


def user_ensure(
    *, actor: Actor, username: str, role: str, password: str, email: str = "", is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """Create or update an operator in the current tenant schema so that it
    has exactly this role and password (used by the demo seed and setup),
    with `user.created` or `user.updated` in the tenant's log (a password
    reset shows as `password_set`, never the password). Its own transaction
    (durable): the operator can sign in once this returns."""
    if connection.schema_name == "public":
        # Operators belong to a tenant; the public schema only holds platform staff.
        raise errors.ValidationFailed("Operators are created inside a tenant's schema.", field="schema")
    if role not in Role.values:
        raise errors.ValidationFailed(f"Unknown role '{role}'; allowed: {list(Role.values)}.", field="role")
    with transaction.atomic(durable=True):
        user, created = User.objects.select_for_update().get_or_create(username=username)
        before = None if created else {f: getattr(user, f) for f in _SHOWN}
        user.role = role
        user.email = email
        user.is_active = True
        user.is_staff = is_staff
        user.is_superuser = is_superuser
        user.set_password(password)
        user.save()
        audit_record(actor=actor, action="user.created" if created else "user.updated", target_type="user",
                     target_id=user.username, before=before, after={f: getattr(user, f) for f in _SHOWN},
                     metadata={"password_set": True})
    return user
