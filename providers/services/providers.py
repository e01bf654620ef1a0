"""Configuring providers: create (secret shown once), update, rotate the secret."""
from __future__ import annotations

import binascii
import copy
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from core import errors
from ledger.services.boundary import boundary_create_once
from providers.errors import ProviderExists
from providers.mapping import STRIPE_MAPPING, mapping_clean
from providers.models import Provider
from core.signing import secret_decrypt, secret_encrypt, secret_generate, secret_key_bytes

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SECRET_RE = re.compile(r"^[\x21-\x7e]{16,200}$")
_UNSET: Any = object()


@dataclass(frozen=True)
class ProviderWithSecret:
    provider: Provider
    secret: str | None  # only when Zentra generated it: the one-time reveal


def provider_snapshot(provider: Provider) -> dict[str, Any]:
    """What the audit trail records: everything but the secrets."""
    return {
        "id": provider.public_id, "slug": provider.slug, "name": provider.name, "kind": provider.kind,
        "signature_scheme": provider.signature_scheme, "enabled": provider.enabled,
        "tolerance_seconds": provider.tolerance_seconds, "max_wait_seconds": provider.max_wait_seconds,
        "mapping": provider.mapping,
        "secret_rotated_at": provider.secret_rotated_at.isoformat() if provider.secret_rotated_at else None,
    }


def provider_secrets(provider: Provider, *, now: datetime | None = None) -> list[str]:
    """The secrets a delivery may be signed with: the current one, and the
    previous one during the rotation overlap."""
    now = now or timezone.now()
    out = [secret_decrypt(provider.secret_encrypted)]
    if provider.previous_secret_encrypted and provider.previous_secret_expires_at and \
            provider.previous_secret_expires_at > now:
        out.append(secret_decrypt(provider.previous_secret_encrypted))
    return out


def _clean_secret(secret: str | None, scheme: str) -> tuple[str, bool]:
    if secret is None:
        return secret_generate(), True
    if not isinstance(secret, str) or not SECRET_RE.match(secret):
        raise errors.ValidationFailed("signing_secret is 16-200 printable ASCII characters.", field="signing_secret")
    if scheme == Provider.Scheme.STANDARD_WEBHOOKS:
        try:
            if len(secret_key_bytes(secret)) < 16:
                raise ValueError
        except (ValueError, binascii.Error):
            raise errors.ValidationFailed(
                "A Standard Webhooks secret is whsec_ followed by base64 of at least 16 bytes.",
                field="signing_secret") from None
    return secret, False


def _clean_numbers(tolerance_seconds: Any, max_wait_seconds: Any) -> None:
    if tolerance_seconds is not _UNSET and not (type(tolerance_seconds) is int and 1 <= tolerance_seconds <= 3600):
        raise errors.ValidationFailed("tolerance_seconds is 1-3600.", field="tolerance_seconds")
    if max_wait_seconds is not _UNSET and not (type(max_wait_seconds) is int and 1 <= max_wait_seconds <= 30 * 86400):
        raise errors.ValidationFailed("max_wait_seconds is 1-2592000 (30 days).", field="max_wait_seconds")


def provider_create(
    *, actor: Actor, slug: str, kind: str, signature_scheme: str | None = None, name: str = "",
    signing_secret: str | None = None, mapping: dict | None = None, tolerance_seconds: int = 300,
    max_wait_seconds: int = 3 * 24 * 3600, enabled: bool = True,
) -> ProviderWithSecret:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise errors.ValidationFailed("slug is 1-40 lower-case letters, digits, '-' or '_'.", field="slug")
    if kind not in Provider.Kind.values:
        raise errors.ValidationFailed(f"kind is one of {', '.join(Provider.Kind.values)}.", field="kind")
    scheme = signature_scheme or (Provider.Scheme.STRIPE if kind == Provider.Kind.STRIPE
                                  else Provider.Scheme.STANDARD_WEBHOOKS)
    if scheme not in Provider.Scheme.values:
        raise errors.ValidationFailed(f"signature_scheme is one of {', '.join(Provider.Scheme.values)}.",
                                      field="signature_scheme")
    if mapping is None:
        if kind != Provider.Kind.STRIPE:
            raise errors.ValidationFailed("A generic provider needs a mapping.", field="mapping")
        mapping = copy.deepcopy(STRIPE_MAPPING)
    mapping = mapping_clean(mapping)
    _clean_numbers(tolerance_seconds, max_wait_seconds)
    secret, generated = _clean_secret(signing_secret, scheme)
    try:
        with transaction.atomic():
            provider = Provider.objects.create(
                slug=slug, name=name[:200], kind=kind, signature_scheme=scheme, secret_encrypted=secret_encrypt(secret),
                mapping=mapping, tolerance_seconds=tolerance_seconds, max_wait_seconds=max_wait_seconds,
                enabled=enabled,
            )
            audit_record(actor=actor, action="provider.create", target_type="provider", target_id=provider.public_id,
                         after=provider_snapshot(provider), metadata={"secret_generated": generated})
    except IntegrityError:
        raise ProviderExists(f"A provider '{slug}' exists already.", slug=slug) from None
    return ProviderWithSecret(provider=provider, secret=secret if generated else None)


def provider_create_once(
    *, actor: Actor, idempotency_key: str, req_hash: str, **fields: Any,
) -> tuple[ProviderWithSecret, bool]:
    """provider_create at most once per idempotency key: a retry gets the
    provider the first request created, with its current secret; (created,
    replayed)."""
    def create() -> dict[str, Any]:
        created = provider_create(actor=actor, **fields)
        return {"id": created.provider.public_id, "secret_generated": created.secret is not None}

    kept, replayed = boundary_create_once(key=idempotency_key, operation="provider.create", req_hash=req_hash,
                                          actor=actor, create=create)
    provider = Provider.objects.get(public_id=kept["id"])
    # A secret the client supplied is never echoed, on a replay either.
    secret = secret_decrypt(provider.secret_encrypted) if kept["secret_generated"] else None
    return ProviderWithSecret(provider=provider, secret=secret), replayed


def provider_update(
    *, provider: Provider, actor: Actor, name: str = _UNSET, mapping: dict = _UNSET, enabled: bool = _UNSET,
    tolerance_seconds: int = _UNSET, max_wait_seconds: int = _UNSET,
) -> Provider:
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = str(name)[:200]
    if mapping is not _UNSET:
        changes["mapping"] = mapping_clean(mapping)
    if enabled is not _UNSET:
        changes["enabled"] = bool(enabled)
    _clean_numbers(tolerance_seconds, max_wait_seconds)
    if tolerance_seconds is not _UNSET:
        changes["tolerance_seconds"] = tolerance_seconds
    if max_wait_seconds is not _UNSET:
        changes["max_wait_seconds"] = max_wait_seconds
    with transaction.atomic():
        locked = Provider.objects.select_for_update().get(pk=provider.pk)
        before = provider_snapshot(locked)
        for field, value in changes.items():
            setattr(locked, field, value)
        if changes:
            locked.save(update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action="provider.update", target_type="provider", target_id=locked.public_id,
                     before=before, after=provider_snapshot(locked))
    return locked


def provider_rotate_secret(
    *, provider: Provider, actor: Actor, signing_secret: str | None = None, now: datetime | None = None,
) -> ProviderWithSecret:
    """The new secret verifies from now on; the old one keeps verifying for
    the overlap window, as providers keep signing with both while they roll."""
    now = now or timezone.now()
    secret, generated = _clean_secret(signing_secret, provider.signature_scheme)
    with transaction.atomic():
        locked = Provider.objects.select_for_update().get(pk=provider.pk)
        before = provider_snapshot(locked)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + timedelta(seconds=settings.INBOUND_ROTATION_OVERLAP_SECONDS)
        locked.secret_encrypted = secret_encrypt(secret)
        locked.secret_rotated_at = now
        locked.save(update_fields=["previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted",
                                   "secret_rotated_at", "updated_at"])
        audit_record(actor=actor, action="provider.rotate_secret", target_type="provider",
                     target_id=locked.public_id, before=before, after=provider_snapshot(locked),
                     metadata={"previous_secret_valid_until": locked.previous_secret_expires_at.isoformat(),
                               "secret_generated": generated})
    return ProviderWithSecret(provider=locked, secret=secret if generated else None)
