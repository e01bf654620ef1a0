"""The console's `short` filter: ids made in the same minute begin with the
same digits (core.ids.time_ordered_hex), so a shortened id shows its
type and its last digits; anything else keeps its beginning."""
import time

from console.templatetags.console import short
from core.ids import time_ordered_hex


def test_ids_made_together_stay_apart_when_shortened():
    ids = [f"apr_{time_ordered_hex()}" for _ in range(50)]
    time.sleep(0.002)
    ids.append(f"apr_{time_ordered_hex()}")
    shown = [short(i) for i in ids]
    assert len(set(shown)) == len(ids)
    assert all(s.startswith("apr_…") and len(s) == 14 and i.endswith(s[5:]) for s, i in zip(shown, ids))
    assert short(ids[0], 16) == "apr_…" + ids[0][-11:]


def test_other_values_keep_their_beginning():
    assert short("led_8172") == "led_8172"
    assert short("customer-order-000123-retry") == "customer-order…"
    assert short("cid_from-the-caller-with-a-long-name", 20) == "cid_from-the-caller-…"
    assert short(None) == ""
