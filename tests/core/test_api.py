"""StrictSerializer copies declared fields shallowly per instance (DRF's
deepcopy re-ran every field's __init__ per request): each instance must
still get its own bound fields, and validation must not leak between them."""
from ledger.api.serializers import EntryIn


def test_each_instance_binds_its_own_fields():
    a, b = EntryIn(data={}), EntryIn(data={})
    for name in ("debit", "amount_minor", "metadata", "lines"):
        assert a.fields[name] is not b.fields[name]
        assert a.fields[name].parent is a and b.fields[name].parent is b
        assert EntryIn._declared_fields[name].parent is None  # the class's own stay unbound
    # A nested serializer's child is shared, and bound to the class's own
    # field, never to one request's serializer (whose context it would see).
    assert a.fields["lines"].child is b.fields["lines"].child
    assert a.fields["lines"].child.parent is EntryIn._declared_fields["lines"]


def test_validation_does_not_leak_between_instances():
    good = EntryIn(data={"debit": "a", "credit": "b", "amount_minor": 5, "currency": "USD"})
    bad = EntryIn(data={"debit": "a", "credit": "b", "amount_minor": 5.0, "currency": "USD"})
    assert good.is_valid(), good.errors
    try:
        bad.is_valid(raise_exception=True)
    except Exception as exc:  # noqa: BLE001 - the typed InvalidAmount error of MinorUnitsField
        assert "amount_minor" in str(exc)
    else:
        raise AssertionError("a float amount was accepted")
    assert good.validated_data["amount_minor"] == 5
    again = EntryIn(data={"lines": [{"account": "a", "side": "debit", "amount_minor": 1, "currency": "USD"},
                                    {"account": "b", "side": "credit", "amount_minor": 1, "currency": "USD"}]})
    assert again.is_valid(), again.errors
    assert len(again.validated_data["lines"]) == 2


def test_nested_lines_validate_independently_per_instance():
    """Two instances sharing the lines child validate their own items: a bad
    line in one is not an error of the other, before or after."""
    line = {"account": "a", "side": "debit", "amount_minor": 1, "currency": "USD"}
    ok = EntryIn(data={"lines": [line, dict(line, account="b", side="credit")]})
    bad = EntryIn(data={"lines": [line, dict(line, side="sideways")]})
    assert not bad.is_valid() and "lines" in bad.errors
    assert ok.is_valid(), ok.errors
    assert [ln["side"] for ln in ok.validated_data["lines"]] == ["debit", "credit"]
    assert not EntryIn(data={"lines": [line, dict(line, side="sideways")]}).is_valid()
