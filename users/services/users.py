from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from audit.services.audit import audit_record
from core import errors
from users import errors as user_errors
from core.actors import Actor
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


# --- people: tenant admins manage their operators ----------------------------
# Each is one transaction with its audit row; the actor is the admin (or the
# management command). Capabilities follow the role at once: views read the
# user row on every request.

MIN_PASSWORD = 12


def user_summary(user: User) -> dict:
    return {"id": user.pk, "username": user.username, "role": user.role, "is_active": user.is_active,
            "email": user.email}


def _tenant_schema_required() -> None:
    if connection.schema_name == "public":
        raise errors.ValidationFailed("Operators are created inside a tenant's schema.", field="schema")


def _locked_for_change(user_id: int) -> tuple[User, set[int]]:
    """The active admins' rows, then the target's, locked in that order (the
    same in every change, so two cannot deadlock): two admins demoting each
    other at once serialize here, and the second sees the first's change."""
    admins = set(User.objects.select_for_update().filter(role=Role.ADMIN, is_active=True).order_by("pk")
                 .values_list("pk", flat=True))
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise errors.NotFound(f"No user {user_id} in this tenant.")
    return user, admins


def user_create(*, actor, username: str, role: str, email: str = "", password: str) -> User:
    """A new operator of this tenant with `role` and a password (a temporary
    one the person changes, or one a script supplies)."""
    _tenant_schema_required()
    username = (username or "").strip()
    try:
        User.username_validator(username)
    except ValidationError as exc:
        raise errors.ValidationFailed(f"Username: {' '.join(exc.messages)}", field="username") from None
    if not username or len(username) > 150:
        raise errors.ValidationFailed("Username is 1 to 150 characters.", field="username")
    if role not in Role.values:
        raise errors.ValidationFailed(f"Unknown role '{role}'; allowed: {', '.join(Role.values)}.", field="role")
    user = User(username=username, role=role, email=(email or "").strip())
    if len(password or "") < MIN_PASSWORD:
        raise errors.ValidationFailed(f"Password: at least {MIN_PASSWORD} characters.", field="password")
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise errors.ValidationFailed(f"Password: {' '.join(exc.messages)}", field="password") from None
    with transaction.atomic():
        with connection.cursor() as cur:
            # Two creations of one name at once: the second waits, then finds the first.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"user-create:{connection.schema_name}:{username.lower()}"])
        if User.objects.filter(username__iexact=username).exists():
            raise user_errors.UsernameTaken(f"There is already a user '{username}'.", username=username)
        user.set_password(password)
        user.save()
        audit_record(actor=actor, action="user.created", target_type="user", target_id=user.pk, after=user_summary(user))
    return user


def user_role_change(*, actor, user_id: int, role: str) -> User:
    if role not in Role.values:
        raise errors.ValidationFailed(f"Unknown role '{role}'; allowed: {', '.join(Role.values)}.", field="role")
    with transaction.atomic():
        user, admins = _locked_for_change(user_id)
        if user.role == role:
            return user
        if user.role == Role.ADMIN and user.is_active and not admins - {user.pk}:
            raise user_errors.LastAdminRequired(
                f"{user.username} is the last active admin; make someone else admin first.", user=user.username)
        before = user_summary(user)
        user.role = role
        user.save(update_fields=["role"])
        audit_record(actor=actor, action="user.role_changed", target_type="user", target_id=user.pk, before=before,
               after=user_summary(user))
    return user


def user_deactivate(*, actor, user_id: int) -> User:
    """The person can no longer sign in, and an open session stops working
    (Django's ModelBackend refuses inactive users on every request)."""
    with transaction.atomic():
        user, admins = _locked_for_change(user_id)
        if not user.is_active:
            return user
        if user.role == Role.ADMIN and not admins - {user.pk}:
            raise user_errors.LastAdminRequired(
                f"{user.username} is the last active admin; make someone else admin first.", user=user.username)
        before = user_summary(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(actor=actor, action="user.deactivated", target_type="user", target_id=user.pk, before=before,
               after=user_summary(user))
    return user
