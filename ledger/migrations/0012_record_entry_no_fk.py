"""The boundary record's entry_id carries no FOREIGN KEY (as the lines'
entry_id and account_id do not, 0006): the record is written by the same
statement as its entry, entries are never deleted, and the deferred check
ran at commit, under the posting's account locks, taking a row lock on the
entry it had just inserted. ledger_check's boundary_record_matches_entry
checks more than the key did: the entry exists and carries the record's key.
docs/ledger-invariants.md."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0011_line_apply_one_statement'),
    ]

    operations = [
        migrations.AlterField(
            model_name='idempotencyrecord',
            name='entry',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.ledgerentry'),
        ),
    ]
