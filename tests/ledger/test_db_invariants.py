"""The database refuses what the services never do: these tests bypass the
services (ORM update()/delete(), raw SQL) and prove PostgreSQL says no."""
import pytest
from django.db import DatabaseError, connection, transaction

from ledger.models import Account, IdempotencyRecord, LedgerEntry, LedgerLine, Policy
from tests.ledger import factories as f


def refused(sql: str, params=None):
    with pytest.raises(DatabaseError) as exc:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(sql, params or [])
    return str(exc.value)


@pytest.fixture(params=["early", "late"])
def world(request, tenant_factory):
    """A tenant created before, and one created after, other tenants and
    template rebuilds: the triggers must be in both."""
    if request.param == "late":
        tenant_factory()  # some other tenant first
    t = tenant_factory()
    connection.set_tenant(t.tenant)
    a = f.account(code="a", normal_side="debit", kind="asset")
    b = f.account(code="b")
    from ledger.services.policies import policy_create

    policy_create(actor=f.TEST_ACTOR, name="cap", kind="max_amount", params={"max_amount_minor": 10**9})
    out = f.post(debit=a, credit=b, amount=100)
    assert out.status == 201
    yield {"a": a, "b": b, "entry_id": out.entry_id, "schema": t.tenant.schema_name}
    connection.set_schema_to_public()


def test_unbalanced_lines_refused_at_commit(world):
    msg = refused(
        "INSERT INTO ledger_ledgerentry (posting_id, kind, idempotency_key, request_hash, external_reference, "
        "source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id, "
        "policy_decisions, line_count) VALUES ('pst_x', 'standard', 'raw-1', 'h', '', '', '', now(), now(), '{}', "
        "'system', 'sql', 'c', '[]', 2);"
        "INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) VALUES "
        f"(currval(pg_get_serial_sequence('ledger_ledgerentry','id')), {world['a'].id}, 'debit', 100, 'USD'),"
        f"(currval(pg_get_serial_sequence('ledger_ledgerentry','id')), {world['b'].id}, 'credit', 99, 'USD');"
        "SET CONSTRAINTS ALL IMMEDIATE;"
    )
    assert "unbalanced" in msg


def test_unbalanced_currency_among_balanced_ones_refused(world):
    """A multi-currency entry balanced in USD but not in EUR: the check
    groups by currency and names the one that is off."""
    c = f.account(code="c-eur", currency="EUR", normal_side="debit", kind="asset")
    d = f.account(code="d-eur", currency="EUR")
    a, b = world["a"].id, world["b"].id
    msg = refused(
        new_entry_sql("raw-multi", line_count=4) + "INSERT INTO ledger_ledgerline (entry_id, account_id, side, "
        f"amount_minor, currency) VALUES ({NEW_ENTRY_ID}, {a}, 'debit', 100, 'USD'), "
        f"({NEW_ENTRY_ID}, {b}, 'credit', 100, 'USD'), ({NEW_ENTRY_ID}, {c.id}, 'debit', 70, 'EUR'), "
        f"({NEW_ENTRY_ID}, {d.id}, 'credit', 69, 'EUR'); SET CONSTRAINTS ALL IMMEDIATE;"
    )
    assert "unbalanced in EUR: debits - credits = 1" in msg


def test_single_line_entry_refused(world):
    msg = refused(
        "INSERT INTO ledger_ledgerentry (posting_id, kind, idempotency_key, request_hash, external_reference, "
        "source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id, "
        "policy_decisions, line_count) VALUES ('pst_y', 'standard', 'raw-2', 'h', '', '', '', now(), now(), '{}', "
        "'system', 'sql', 'c', '[]', 1);"
        "INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) VALUES "
        f"(currval(pg_get_serial_sequence('ledger_ledgerentry','id')), {world['a'].id}, 'debit', 100, 'USD');"
        "SET CONSTRAINTS ALL IMMEDIATE;"
    )
    assert "at least 2" in msg


def test_extra_line_on_an_old_entry_refused(world):
    msg = refused(
        f"INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) VALUES "
        f"({world['entry_id']}, {world['a'].id}, 'debit', 5, 'USD'); SET CONSTRAINTS ALL IMMEDIATE;"
    )
    assert "already has its 2 lines" in msg


def new_entry_sql(key: str, line_count: int = 2) -> str:
    """A raw entry row with room for `line_count` lines; its lines can then
    name it as currval(...) in the same transaction."""
    return (
        "INSERT INTO ledger_ledgerentry (posting_id, kind, idempotency_key, request_hash, external_reference, "
        "source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id, "
        f"policy_decisions, line_count) VALUES ('pst_{key}', 'standard', '{key}', 'h', '', '', '', now(), now(), '{{}}', "
        f"'system', 'sql', 'c', '[]', {line_count});"
    )


NEW_ENTRY_ID = "currval(pg_get_serial_sequence('ledger_ledgerentry','id'))"


def test_extra_line_on_an_entry_of_this_transaction_refused(world):
    """The line trigger counts lines as they come: a third line for a
    two-line entry is refused at once, committed entry or not."""
    a, b = world["a"].id, world["b"].id
    msg = refused(
        new_entry_sql("raw-extra") + "INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) "
        f"VALUES ({NEW_ENTRY_ID}, {a}, 'debit', 5, 'USD'), ({NEW_ENTRY_ID}, {b}, 'credit', 5, 'USD'), "
        f"({NEW_ENTRY_ID}, {a}, 'debit', 5, 'USD')"
    )
    assert "already has its 2 lines" in msg


def test_line_of_an_unknown_entry_or_account_refused(world):
    """No FOREIGN KEY on lines: the line trigger is what refuses them."""
    assert "unknown entry" in refused(
        "INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) VALUES "
        f"(987654321, {world['a'].id}, 'debit', 5, 'USD')")
    assert "unknown account" in refused(
        new_entry_sql("raw-noacct") + "INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, "
        f"currency) VALUES ({NEW_ENTRY_ID}, 987654321, 'debit', 5, 'USD')")


@pytest.mark.parametrize("amount", [0, -5])
def test_non_positive_amounts_refused(world, amount):
    msg = refused(
        new_entry_sql(f"raw-np{amount}") + "INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, "
        f"currency) VALUES ({NEW_ENTRY_ID}, {world['a'].id}, 'debit', {amount}, 'USD')"
    )
    assert "line_amount_positive" in msg


def test_line_in_wrong_currency_refused(world):
    assert "currency" in refused(
        new_entry_sql("raw-cur") + "INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, "
        f"currency) VALUES ({NEW_ENTRY_ID}, {world['a'].id}, 'debit', 5, 'EUR')")


@pytest.mark.parametrize("action", [
    lambda: LedgerEntry.objects.update(description="rewritten"),
    lambda: LedgerEntry.objects.all().delete(),
    lambda: LedgerLine.objects.update(amount_minor=1),
    lambda: LedgerLine.objects.all().delete(),
    lambda: Account.objects.update(posted_balance=10**9),
    lambda: Account.objects.update(pending_balance=1),
    lambda: Account.objects.all().delete(),
    lambda: IdempotencyRecord.objects.all().delete(),
    lambda: IdempotencyRecord.objects.update(response_status=200),
    lambda: Policy.objects.update(version=9),
])
def test_orm_mutations_refused(world, action):
    with pytest.raises(DatabaseError):
        with transaction.atomic():
            action()


@pytest.mark.parametrize("table", ["ledger_ledgerentry", "ledger_ledgerline", "ledger_account",
                                   "ledger_idempotencyrecord", "ledger_policy"])
def test_truncate_refused(world, table):
    assert "refused" in refused(f"TRUNCATE {table} CASCADE")


def test_raw_update_of_lines_refused(world):
    assert "append-only" in refused("UPDATE ledger_ledgerline SET amount_minor = amount_minor + 1")
    assert "append-only" in refused("DELETE FROM ledger_ledgerentry")


def test_account_cannot_start_with_a_balance(world):
    assert "starts at zero" in refused(
        "INSERT INTO ledger_account (code, name, currency, normal_side, kind, status, metadata, posted_balance, "
        "pending_balance, debits_total, credits_total, lines_count, created_at) "
        "VALUES ('rich', 'Rich', 'USD', 'debit', 'asset', 'open', '{}', 1000, 0, 0, 0, 0, now())")


@pytest.mark.parametrize("column", ["posted_balance", "pending_balance", "debits_total", "credits_total",
                                    "lines_count"])
def test_account_balance_columns_move_only_by_posting(world, column):
    """The guard's UPDATE half fires for every statement a client issues
    (WHEN pg_trigger_depth() < 1, 0013): every balance column, raw SQL and
    from inside a function too."""
    assert "balances change only" in refused(f"UPDATE ledger_account SET {column} = {column} + 1 WHERE code = 'a'")
    assert "balances change only" in refused(
        f"DO $$ BEGIN UPDATE ledger_account SET {column} = {column} + 1 WHERE code = 'a'; END $$")


def test_account_currency_and_side_are_fixed_once_it_has_lines(world):
    assert "fixed" in refused("UPDATE ledger_account SET currency = 'EUR' WHERE code = 'a'")
    assert "fixed" in refused("UPDATE ledger_account SET normal_side = 'credit' WHERE code = 'a'")
    assert "fixed" in refused("DO $$ BEGIN UPDATE ledger_account SET currency = 'EUR' WHERE code = 'a'; END $$")
    # Without lines both may change, and so may a name or a status with lines.
    f.account(code="fresh")
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE ledger_account SET currency = 'EUR', normal_side = 'debit' WHERE code = 'fresh'")
        cur.execute("UPDATE ledger_account SET name = 'Renamed', status = 'frozen' WHERE code = 'a'")
    assert Account.objects.get(code="fresh").currency == "EUR"
    assert Account.objects.get(code="a").status == "frozen"


@pytest.mark.parametrize("assignment", [
    "key = 'other'", "request_hash = 'forged'", "response_status = 200",
    "response_body = response_body || '{\"forged\": true}'", "entry_id = NULL", "outcome = 'rejected'",
    "completed_at = now() - interval '1 day'",
])
def test_a_completed_boundary_record_keeps_its_answer(world, assignment):
    """The record guard fires on a WHEN clause (0009): a completed record's
    answer is frozen; replay evidence still moves."""
    assert "immutable" in refused(f"UPDATE ledger_idempotencyrecord SET {assignment}")
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE ledger_idempotencyrecord SET replay_count = replay_count + 1, last_replayed_at = now()")
        assert cur.rowcount == 1


def test_stored_balance_equals_sum_of_lines_after_raw_insert(world):
    """Even a line written by raw SQL moves the stored balance itself."""
    a, b = world["a"], world["b"]
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO ledger_ledgerentry (posting_id, kind, idempotency_key, request_hash, external_reference, "
                "source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id, "
                "policy_decisions, line_count) VALUES ('pst_raw', 'standard', 'raw-3', 'h', '', '', '', now(), now(), "
                "'{}', 'system', 'sql', 'c', '[]', 2) RETURNING id")
            eid = cur.fetchone()[0]
            cur.execute("INSERT INTO ledger_ledgerline (entry_id, account_id, side, amount_minor, currency, balance_after) "
                        "VALUES (%s, %s, 'debit', 7, 'USD', 999999), (%s, %s, 'credit', 7, 'USD', 999999)",
                        [eid, a.id, eid, b.id])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.posted_balance, b.posted_balance) == (107, 107)
    assert list(LedgerLine.objects.filter(entry_id=eid).order_by("id").values_list("balance_after", flat=True)) == [107, 107]


def test_schema_qualified_sql_from_public_search_path_is_refused_too(world):
    connection.set_schema_to_public()
    assert "append-only" in refused(f'DELETE FROM "{world["schema"]}".ledger_ledgerline')
