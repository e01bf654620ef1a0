"""pg_array (zentra_site/db.py): array parameters sent as literals must
arrive as exactly the values sent, whatever text a client put in them."""
import pytest
from django.db import connection

from core.db import pg_array

NASTY = ["plain", "", "a,b", "{x}", 'quo"te', "back\\slash", "\\\"", "NULL", "null", " spaced ", "ünï", "😀",
         "semi;colon", "'single'", "tab\tnew\nline"]


def test_text_arrays_round_trip():
    with connection.cursor() as cur:
        cur.execute("SELECT %s::text[]", [pg_array(NASTY)])
        assert cur.fetchone()[0] == NASTY


@pytest.mark.parametrize("values", [[], [1], [1, 2, 3], [2**63 - 1, -(2**63)]])
def test_bigint_arrays_round_trip(values):
    with connection.cursor() as cur:
        cur.execute("SELECT %s::bigint[]", [pg_array(values)])
        assert cur.fetchone()[0] == values


def test_an_unknown_code_is_named_as_sent(tenant_a):
    """The posting path sends account codes this way: an unknown code comes
    back in the 4xx exactly as the client wrote it."""
    from ledger import errors
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post
    from tests.ledger import factories as f

    connection.set_tenant(tenant_a.tenant)
    f.account(code="known")
    for code in NASTY[1:]:
        with pytest.raises(errors.AccountNotFound) as caught:
            entry_post(actor=f.TEST_ACTOR, tenant="t", idempotency_key=f"k{NASTY.index(code)}", req_hash="h", lines=[
                LineSpec(account="known", side="debit", amount_minor=1, currency="USD"),
                LineSpec(account=code, side="credit", amount_minor=1, currency="USD")])
        assert caught.value.extra["accounts"] == [code]
    connection.set_schema_to_public()
