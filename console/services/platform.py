"""Platform-staff actions (public host): provisioning tenants."""
from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django_tenants.utils import schema_context

from core.actors import Actor
from audit.services.audit import audit_record
from console.services.submissions import SubmissionOutcome, form_submission_run
from core import errors
from tenants.services.template import template_ensure
from tenants.services.tenants import tenant_create
from users.models import Role, User


def tenant_onboard(
    *, actor: Actor, form_key: str, slug: str, name: str, domain: str, admin_username: str, admin_password: str,
) -> SubmissionOutcome:
    """Create a tenant (tenant_create: schema cloned from the template) and
    its first console admin, audited in the new tenant's own log -- one
    transaction, so a failure leaves no tenant without an admin."""
    if not admin_username or User.username_validator.regex.search(admin_username) is None:
        raise errors.ValidationFailed("The admin username is letters, digits and @ . + - _ only.", field="admin_username")
    try:
        validate_password(admin_password or "", user=User(username=admin_username))
    except DjangoValidationError as exc:
        raise errors.ValidationFailed(" ".join(exc.messages), field="admin_password") from exc
    # May rebuild the template snapshot with pg_dump, which only sees
    # committed DDL: it must run before the transaction below opens.
    template_ensure()
    payload = {"slug": slug, "name": name, "domain": domain, "admin_username": admin_username}

    def work() -> dict:
        provisioned = tenant_create(actor=actor, slug=slug, domain=domain, name=name or slug)
        tenant = provisioned.tenant
        with schema_context(tenant.schema_name):
            admin = User(username=admin_username, role=Role.ADMIN, is_staff=True)
            admin.set_password(admin_password)
            admin.save()
            audit_record(actor=actor, action="user.created", target_type="user", target_id=admin_username,
                         after={"role": admin.role, "is_staff": True, "first_admin": True},
                         metadata={"via": "console.platform"})
        return {"redirect": "/console/platform/", "tenant": tenant.slug, "domain": provisioned.domain.domain,
                "message": f"Tenant {tenant.slug} created at {provisioned.domain.domain}; "
                           f"{admin_username} can sign in to its console."}

    return form_submission_run(actor=actor, key=form_key, action="tenant.create", payload=payload, work=work)
