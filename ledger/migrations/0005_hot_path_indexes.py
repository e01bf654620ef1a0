"""The posting path's write cost: balance updates in place, no index nobody reads.

See docs/ledger.md "Posting path: where the time goes"."""
import django.db.models.deletion
from django.db import migrations, models

from core.dbtriggers import drop_prefix_indexes


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_approvals")]

    operations = [
        # Every line rewrites its account's row (the balance trigger). With
        # full pages those updates cannot be HOT: each one adds an entry to
        # every account index and lookups wade through dead versions (50
        # accounts grew to 268 pages and ~250 index entries per code in a
        # benchmark). Half-empty pages keep the new version on the same page.
        migrations.RunSQL(
            "ALTER TABLE ledger_account SET (fillfactor = 50)",
            "ALTER TABLE ledger_account RESET (fillfactor)",
        ),
        drop_prefix_indexes(
            "ledger_ledgerentry_correlation_id_e5c74a6d_like",
            "ledger_ledgerentry_external_reference_814bcbe1_like",
            "ledger_ledgerentry_idempotency_key_87595497_like",
            "ledger_ledgerentry_posting_id_2b63f0fb_like",
            "ledger_idempotencyrecord_key_231706c9_like",
        ),
        # line_account_id_idx (account, id) serves every lookup by account.
        migrations.AlterField(
            model_name="ledgerline",
            name="account",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="lines",
                                    to="ledger.account"),
        ),
    ]
