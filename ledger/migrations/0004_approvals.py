"""Maker-checker requests (console approvals).

Depends on 0002 here; the lifecycle branch's 0003 is ordered in at merge."""

import django.db.models.deletion
import ledger.models
from django.db import migrations, models

from core.dbtriggers import REFUSE_MUTATION_FN

APPROVAL_GUARD = r"""
CREATE OR REPLACE FUNCTION public.zentra_approval_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A decision is evidence: once a request left 'pending' nothing about it
    -- may change, whoever issues the UPDATE.
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'zentra: approval request % is decided (%) and immutable', OLD.public_id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.public_id IS DISTINCT FROM OLD.public_id OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
       OR NEW.request_hash IS DISTINCT FROM OLD.request_hash OR NEW.payload IS DISTINCT FROM OLD.payload
       OR NEW.amount_minor IS DISTINCT FROM OLD.amount_minor OR NEW.currency IS DISTINCT FROM OLD.currency
       OR NEW.requested_by IS DISTINCT FROM OLD.requested_by OR NEW.requested_at IS DISTINCT FROM OLD.requested_at THEN
        RAISE EXCEPTION 'zentra: what was requested cannot change; only the decision is recorded'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_lifecycle'),
    ]

    operations = [
        migrations.CreateModel(
            name='ApprovalRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=ledger.models.new_approval_id, max_length=40, unique=True)),
                ('kind', models.CharField(choices=[('manual_entry', 'Manual entry'), ('reversal', 'Reversal')], max_length=16)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('posted', 'Posted'), ('rejected', 'Rejected'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('idempotency_key', models.CharField(max_length=255, unique=True)),
                ('request_hash', models.CharField(max_length=64)),
                ('payload', models.JSONField()),
                ('currency', models.CharField(max_length=3)),
                ('amount_minor', models.BigIntegerField()),
                ('threshold', models.JSONField(default=dict)),
                ('requested_by', models.CharField(max_length=200)),
                ('requested_by_label', models.CharField(blank=True, default='', max_length=150)),
                ('requested_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('request_correlation_id', models.CharField(max_length=128)),
                ('decided_by', models.CharField(blank=True, default='', max_length=200)),
                ('decided_by_label', models.CharField(blank=True, default='', max_length=150)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_note', models.CharField(blank=True, default='', max_length=500)),
                ('outcome', models.JSONField(blank=True, null=True)),
                ('entry', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='approvals', to='ledger.ledgerentry')),
            ],
            options={
                'indexes': [models.Index(fields=['status', '-requested_at'], name='approval_status_requested_idx')],
                'verbose_name': 'approval request',
                'constraints': [models.CheckConstraint(condition=models.Q(('amount_minor__gt', 0)), name='approval_amount_positive'), models.CheckConstraint(condition=models.Q(models.Q(('decided_at__isnull', True), ('decided_by', ''), ('status', 'pending')), models.Q(models.Q(('status', 'pending'), _negated=True), ('decided_at__isnull', False), models.Q(('decided_by', ''), _negated=True)), _connector='OR'), name='approval_decided_iff_not_pending'), models.CheckConstraint(condition=models.Q(('decided_by', models.F('requested_by')), _negated=True), name='approval_not_self_decided'), models.CheckConstraint(condition=models.Q(models.Q(('entry__isnull', False), ('status', 'posted')), models.Q(models.Q(('status', 'posted'), _negated=True), ('entry__isnull', True)), _connector='OR'), name='approval_entry_iff_posted')],
            },
        ),
        migrations.RunSQL(REFUSE_MUTATION_FN + APPROVAL_GUARD, migrations.RunSQL.noop),
        migrations.RunSQL(
            """
            CREATE TRIGGER approval_guard BEFORE UPDATE ON ledger_approvalrequest
                FOR EACH ROW EXECUTE FUNCTION public.zentra_approval_guard();
            CREATE TRIGGER approval_no_delete BEFORE DELETE ON ledger_approvalrequest
                FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
            CREATE TRIGGER approval_no_truncate BEFORE TRUNCATE ON ledger_approvalrequest
                FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
            """,
            """
            DROP TRIGGER IF EXISTS approval_guard ON ledger_approvalrequest;
            DROP TRIGGER IF EXISTS approval_no_delete ON ledger_approvalrequest;
            DROP TRIGGER IF EXISTS approval_no_truncate ON ledger_approvalrequest;
            """,
        ),
    ]
