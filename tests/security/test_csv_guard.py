"""The CSV formula guard: text a spreadsheet would evaluate starts with a quote."""
from __future__ import annotations

import pytest

from audit.exports import csv_cell as audit_cell
from console.exports import csv_cell as console_cell

LEADS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "＝HYPERLINK(\"http://x\")", "＋1", "－1", "＠SUM(A1)"]


@pytest.mark.parametrize("guard", [audit_cell, console_cell])
@pytest.mark.parametrize("text", LEADS)
def test_formula_leads_are_defused(guard, text):
    assert guard(text) == "'" + text


@pytest.mark.parametrize("guard", [audit_cell, console_cell])
def test_plain_text_and_numbers_are_left_alone(guard):
    assert guard("ops") == "ops" and guard("a=b") == "a=b" and guard(-5) == -5
