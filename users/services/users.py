from __future__ import annotations

from django.db import connection, transaction

from core import errors
from users.models import Role, User


def user_ensure(
    *, username: str, role: str, password: str, email: str = "", is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """Create or update an operator in the current tenant schema so that it
    has exactly this role and password (used by the demo seed and setup)."""
    if connection.schema_name == "public":
        # Operators belong to a tenant; the public schema only holds platform staff.
        raise errors.ValidationFailed("Operators are created inside a tenant's schema.", field="schema")
    if role not in Role.values:
        raise errors.ValidationFailed(f"Unknown role '{role}'; allowed: {list(Role.values)}.", field="role")
    with transaction.atomic():
        user, _ = User.objects.select_for_update().get_or_create(username=username)
        user.role = role
        user.email = email
        user.is_active = True
        user.is_staff = is_staff
        user.is_superuser = is_superuser
        user.set_password(password)
        user.save()
    return user
