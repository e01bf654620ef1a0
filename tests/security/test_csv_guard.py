"""The CSV formula guard (every export, API and console): text a spreadsheet
would evaluate starts with a quote."""
from __future__ import annotations

import pytest

from audit.exports import csv_cell

LEADS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "＝HYPERLINK(\"http://x\")", "＋1", "－1", "＠SUM(A1)"]


@pytest.mark.parametrize("text", LEADS)
def test_formula_leads_are_defused(text):
    assert csv_cell(text) == "'" + text


def test_plain_text_and_numbers_are_left_alone():
    assert csv_cell("ops") == "ops" and csv_cell("a=b") == "a=b" and csv_cell(-5) == -5
