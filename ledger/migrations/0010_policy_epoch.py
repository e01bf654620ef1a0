"""The policy epoch: one row per tenant schema that changes whenever a
policy or an attachment does (ledger.models.PolicyEpoch).

The posting path keeps, per process, the accounts and the policies that
apply to them as the last full read found them (ledger.posting_cache), and
posts in one statement that locks the accounts and refuses to go on
(serialization failure; the service then takes the full path) if an
account's code, status, currency or normal side, or this epoch, differs
from what the cache holds. The epoch comes from a database-wide sequence,
so a schema dropped and created again under the same name never repeats
an epoch its predecessor had.
"""
from django.db import migrations, models

FORWARD = """
CREATE SEQUENCE IF NOT EXISTS public.zentra_policy_epoch_seq;

CREATE OR REPLACE FUNCTION public.zentra_policy_epoch_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Statement level: one bump per statement however many rows it touched.
    EXECUTE format('INSERT INTO %I.ledger_policyepoch (id, epoch) VALUES (1, nextval(''public.zentra_policy_epoch_seq''))
                    ON CONFLICT (id) DO UPDATE SET epoch = EXCLUDED.epoch', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

INSERT INTO ledger_policyepoch (id, epoch) VALUES (1, nextval('public.zentra_policy_epoch_seq'));

CREATE TRIGGER policy_epoch_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ledger_policy
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_policy_epoch_bump();
CREATE TRIGGER accountpolicy_epoch_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ledger_accountpolicy
    FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_policy_epoch_bump();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS policy_epoch_bump ON ledger_policy;
DROP TRIGGER IF EXISTS accountpolicy_epoch_bump ON ledger_accountpolicy;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0009_guards_when"),
    ]

    operations = [
        migrations.CreateModel(
            name="PolicyEpoch",
            fields=[
                ("id", models.SmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("epoch", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
