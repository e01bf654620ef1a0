"""Typed errors of the inbound endpoint and provider configuration, with
stable codes (rendered as problem+json like every ZentraError)."""
from __future__ import annotations

from core.errors import ZentraError


class ProviderNotFound(ZentraError):
    status, code, title = 404, "provider_not_found", "No such provider"


class ProviderExists(ZentraError):
    status, code, title = 409, "provider_exists", "A provider with this slug exists"


class MappingInvalid(ZentraError):
    status, code, title = 400, "mapping_invalid", "The provider mapping is not valid"


class SignatureMissing(ZentraError):
    status, code, title = 400, "signature_missing", "The provider signature headers are missing or malformed"


class SignatureMismatch(ZentraError):
    status, code, title = 401, "signature_mismatch", "The provider signature does not match"


class SignatureStale(ZentraError):
    status, code, title = 401, "signature_stale", "The provider signature timestamp is outside the tolerance"


class InboundEventInvalid(ZentraError):
    status, code, title = 400, "inbound_event_invalid", "The provider event has no usable id or type"


class InboundLengthRequired(ZentraError):
    status, code, title = 411, "length_required", "The request needs a Content-Length"


class InboundPayloadTooLarge(ZentraError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class InboundDeliveryNotFound(ZentraError):
    status, code, title = 404, "inbound_delivery_not_found", "No such inbound delivery"


class InboundNotReplayable(ZentraError):
    status, code, title = 409, "inbound_not_replayable", "This delivery cannot be applied"
