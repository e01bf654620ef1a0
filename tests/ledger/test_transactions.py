"""retry_on_conflict (ledger/services/transactions.py): whole-transaction
retries on serialization failures and deadlocks, with real PostgreSQL errors."""
import pytest
from django.db import connection, transaction

from core import errors
from core.transactions import MAX_ATTEMPTS, retry_on_conflict


def _serialization_failure():
    with connection.cursor() as cur:
        cur.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$")


def test_a_conflict_is_retried_until_it_passes():
    calls = []

    @retry_on_conflict
    def work():
        calls.append(1)
        with transaction.atomic():
            if len(calls) < 3:
                _serialization_failure()
            return "done"

    assert work() == "done" and len(calls) == 3


def test_a_conflict_that_never_clears_is_a_409_not_a_500():
    calls = []

    @retry_on_conflict
    def work():
        calls.append(1)
        with transaction.atomic():
            _serialization_failure()

    with pytest.raises(errors.TransactionConflict) as caught:
        work()
    assert len(calls) == MAX_ATTEMPTS
    assert caught.value.status == 409 and caught.value.to_problem()["retryable"] is True


def test_inside_a_callers_transaction_the_error_goes_to_the_caller():
    """Only the outermost transaction can be re-run."""
    calls = []

    @retry_on_conflict
    def work():
        calls.append(1)
        _serialization_failure()

    from django.db import OperationalError

    with pytest.raises(OperationalError), transaction.atomic():
        work()
    assert len(calls) == 1
