"""The formatting layer of every table a report shows (`helpers.tables`)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from helpers import tables
from helpers.report.html import sanitize_html
from helpers.steps.section import Section
from helpers.tables import Table

HOSTILE = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(2)>',
           "javascript:alert(3)", "{{7*7}}", "=cmd|' /C calc'!A0"]


def _cells(html: str) -> list[list[str]]:
    soup = BeautifulSoup(html, "html.parser")
    return [[c.get_text() for c in tr.find_all(["th", "td"])] for tr in soup.find("table").find_all("tr")]


def test_numbers_read_as_people_write_them():
    assert [tables.number(v) for v in (1195.0, 8.977e6, 1e-9, 0.25, 2.0 / 3)] == [
        "1,195", "8,977,000", "0.000000001", "0.25", "0.667"]
    assert [tables.p_value(v) for v in (0.0, 3e-4, 0.049, 0.2)] == ["< 0.001", "< 0.001", "0.049", "0.20"]
    assert tables.percent(0.2654) == "26.5%" and tables.points(-0.042) == "-4.2 pp" and tables.points(0.01) == "+1 pp"
    assert tables.interval(1.5, float("nan")) == "1.50 to not reached"
    assert tables.term("quadrant[win_back]") == "quadrant: win back"


def test_a_table_has_labels_one_interval_column_no_index_and_no_e_notation():
    frame = pd.DataFrame({"segment": ["month-to-month", "two-year"], "n": [11005.0, 4023.0],
                          "rmst": [14.612, 23.547], "rmst_lower": [14.42, 23.46], "rmst_upper": [14.80, 23.64],
                          "p": [0.0, 0.0123], "revenue": [8.977e6, 1.2e-7], "median_reached": [True, False]},
                         index=[6634, 13901])
    html = Table(frame, units={"revenue": "EUR"}).html()
    rows = _cells(html)
    assert rows[0] == ["Segment", "Customers", "Restricted mean tenure (months)",
                       "Restricted mean tenure (months), 95% interval", "p-value", "Revenue (EUR)"]
    assert rows[1] == ["month-to-month", "11,005", "14.6", "14.4 to 14.8", "< 0.001", "8,977,000"]
    assert rows[2][-1] == "0.000000120"
    assert not re.search(r"\de[+-]\d", html) and "6634" not in html and "13901" not in html
    assert Table(frame).frame is frame  # the data stay the data


def test_a_named_index_becomes_a_column_and_shares_read_in_percent():
    frame = pd.DataFrame({"rate": [0.2654], "lower": [0.25], "upper": [0.28]}, index=pd.Index(["all"], name="who"))
    rows = _cells(Table(frame, percent=["rate", "lower", "upper"]).html())
    assert rows == [["Who", "Rate", "95% interval"], ["all", "26.5%", "25.0% to 28.0%"]]


def test_a_long_table_shows_its_top_rows_and_collapses_the_rest():
    frame = pd.DataFrame({"segment": [f"s{i}" for i in range(40)], "n": np.arange(40)})
    soup = BeautifulSoup(Table(frame, top=10).html(), "html.parser")
    first, full = soup.find_all("table")
    assert len(first.find_all("tr")) == 11 and len(full.find_all("tr")) == 41
    assert full.find_parent("details").find("summary").get_text() == "All 40 rows"


def test_a_wide_table_is_turned_or_split_and_never_truncated():
    wide = pd.DataFrame({f"c{i}": [float(i)] for i in range(27)})
    rows = _cells(Table(wide).html())
    assert rows[0] == ["", "value"] and len(rows) == 28  # one row per former column
    many = pd.DataFrame({f"c{i}": np.arange(30.0) + i for i in range(20)})
    html = Table(many).html()
    soup = BeautifulSoup(html, "html.parser")
    assert all(len(t.find("tr").find_all("th")) <= tables.WIDE for t in soup.find_all("table"))
    assert "..." not in html and "\u2026" not in html and "rows ×" not in html


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_and_column_names_are_shown_as_text(hostile):
    frame = pd.DataFrame({hostile: [hostile, "b"], "n": [1, 2]}, index=pd.Index([hostile, "x"], name=hostile + "!"))
    html = Table(frame, caption=hostile).html()
    assert sanitize_html(html) == sanitize_html(sanitize_html(html))
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find_all(["script", "img", "svg"]) and all(not k.startswith("on") for t in soup.find_all(True)
                                                              for k in t.attrs)
    assert hostile in soup.get_text()


def test_a_section_shows_formatted_tables_and_keeps_the_frames():
    frame = pd.DataFrame({"hr": [0.85], "lower": [0.7], "upper": [1.01]})
    section = Section().table(frame)
    assert section.frames == [frame]
    assert "0.850" in section.parts[0]._repr_html_() and "0.700 to 1.01" in section.parts[0]._repr_html_()


def test_two_intervals_keep_their_own_columns_and_no_interval_reads_as_a_dash():
    """03's paradox table showed the risk difference's interval beside the hazard ratio: both were '95% interval'."""
    frame = pd.DataFrame({"hr": [0.858], "lower": [0.750], "upper": [0.981], "risk_difference": [-0.0281],
                          "risk_lower": [-0.0510], "risk_upper": [-0.00511], "share_lower": [float("nan")],
                          "share_upper": [float("nan")]})
    shown = tables.Table(frame).formatted()
    assert shown.loc[0, "95% interval"] == "0.750 to 0.981"
    assert shown.loc[0, "Risk, 95% interval"] == "-0.0510 to -0.00511"
    assert tables.interval(float("nan"), None) == tables.DASH and tables.interval(1.5, None) == "1.50 to not reached"
