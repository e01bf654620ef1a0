from __future__ import annotations

from rest_framework import serializers

from core.api import StrictSerializer


class AuditEventOut(serializers.Serializer):
    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    actor_kind = serializers.CharField()
    actor_ref = serializers.CharField()
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    policy_context = serializers.JSONField(allow_null=True)
    correlation_id = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    metadata = serializers.JSONField()
    chain_seq = serializers.IntegerField(
        allow_null=True, help_text="Link of this event in the tenant's hash chain; null until the sealer reaches it",
    )


class AuditEventPageOut(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AuditEventOut(many=True)


class ChainHeadOut(serializers.Serializer):
    seq = serializers.IntegerField()
    hash = serializers.CharField()


class BrokenLinkOut(serializers.Serializer):
    seq = serializers.IntegerField()
    record_type = serializers.CharField()
    record_id = serializers.IntegerField(allow_null=True)
    reason = serializers.ChoiceField(choices=[
        "seq_gap", "prev_hash_mismatch", "link_hash_mismatch", "unknown_record_type", "record_missing",
        "content_changed",
    ])
    expected = serializers.JSONField(allow_null=True)
    actual = serializers.JSONField(allow_null=True)


class ChainReportOut(serializers.Serializer):
    ok = serializers.BooleanField()
    links_checked = serializers.IntegerField()
    head = ChainHeadOut(allow_null=True)
    first_broken = BrokenLinkOut(allow_null=True)
    unsealed = serializers.DictField(child=serializers.IntegerField(),
                                     help_text="Per record type: records committed after the seal (not a break)")
    unsealed_total = serializers.IntegerField()
    sealed_now = serializers.IntegerField()
    chain_enabled = serializers.BooleanField()


class ExportIn(StrictSerializer):
    kind = serializers.CharField(max_length=40, help_text="audit_events (more kinds are registered by other apps)")
    filters = serializers.JSONField(required=False, default=dict,
                                    help_text="The same filters as the kind's list endpoint")


class ExportOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    filters = serializers.JSONField()
    exporter = serializers.CharField()
    created_at = serializers.DateTimeField()
    chain_head = ChainHeadOut(allow_null=True)
    row_count = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    file = serializers.CharField()
    manifest = serializers.CharField()


class ManifestOut(serializers.Serializer):
    manifest_version = serializers.IntegerField()
    export_id = serializers.IntegerField()
    tenant = serializers.CharField()
    kind = serializers.CharField()
    filters = serializers.JSONField()
    columns = serializers.ListField(child=serializers.CharField())
    format = serializers.CharField()
    file = serializers.CharField()
    file_name = serializers.CharField()
    row_count = serializers.IntegerField()
    byte_count = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="SHA-256 of the exact bytes GET file returns")
    chain_head = ChainHeadOut(allow_null=True)
    pinned_by = serializers.CharField(help_text="chain_head (sealed rows) or max_row_id (rows whose state changes)")
    exporter = serializers.CharField()
    correlation_id = serializers.CharField()
    generated_at = serializers.DateTimeField()
    digested_at = serializers.DateTimeField()
