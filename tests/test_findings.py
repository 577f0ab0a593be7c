import math

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from helpers.findings import FINDING_MIME, Finding, escape_md, make_finding, read_findings, record


def test_record_outside_a_kernel_returns_the_finding():
    f = record("churn_rate", 0.25, (0.2, 0.3), unit="share", label="Churn")
    assert f == Finding("churn_rate", 0.25, 0.2, 0.3, "share", "Churn")
    assert f.text() == "Churn: 25% [20%, 30%]"
    assert make_finding("n", 20000.0, unit="customers").text() == "n: 20,000 customers"
    assert make_finding("hr", 0.61234, (0.5, 0.7), label="HR").text() == "HR: 0.612 [0.500, 0.700]"
    assert make_finding("lost", 671912.4, (616300.2, 727500.9), unit="USD").text() == \
        "lost: 671,912 [616,300, 727,501] USD"


def test_verdicts_are_strings_without_interval():
    assert make_finding("ph_check", "violated").text() == "ph_check: violated"
    with pytest.raises(ValueError, match="a verdict .* takes no interval"):
        make_finding("ph_check", "violated", (0, 1))


@pytest.mark.parametrize("args, error, message", [
    (("Bad Name", 1.0), ValueError, "use lower-case letters"),
    (("x", math.nan), ValueError, "the value is nan; record only finite numbers"),
    (("x", "1", None), None, None),
    (("x", [1]), TypeError, "the value must be a number"),
    (("x", 5.0, (1.0, 2.0)), ValueError, r"value 5 lies outside its interval \[1, 2\]"),
    (("x", 1.0, (0.0, math.inf)), ValueError, "the interval is inf"),
])
def test_bad_findings_are_refused(args, error, message):
    if error is None:
        make_finding(*args)
        return
    with pytest.raises(error, match=message):
        make_finding(*args)


def test_read_findings_from_cell_outputs_keeps_the_last_value():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    out = lambda v: nbformat.v4.new_output("display_data", data={  # noqa: E731
        "text/plain": "x", FINDING_MIME: {"name": "a", "value": v, "ci_low": None, "ci_high": None,
                                          "unit": "", "label": ""}})
    cell.outputs = [out(1.0), nbformat.v4.new_output("stream", text="hi"), out(2.0)]
    nb.cells = [cell]
    assert [f["value"] for f in read_findings(nb)] == [2.0]


# escape_md: a data value in Markdown shows as exactly that value, as text
HOSTILE = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "[x](javascript:alert(3))",
           '"><svg onload=alert(4)>', "</td><iframe src=javascript:alert(5)>", "![i](https://h/t.png)",
           "<https://h/x> https://h/y www.h.example", "*a* _b_ __c__ `d` ~~e~~ $f$ $$g$$ {h} #i +j -k !l |m|",
           "# heading", "- item", "+ item", "> quote", "| a | b |", "\\`*_{}[]()#+-!|~$:", "&lt;b&gt; &amp; &#60;",
           "R&D 'q' \"dq\"", "1. first", "2) second", "$(touch /tmp/wb_pwned)",
           "'; import os; os.system(\"touch /tmp/wb_pwned\") #"]


@pytest.mark.parametrize("value", HOSTILE)
def test_escape_md_shows_the_value_as_text(value):
    # nbconvert's own Markdown renderer, the one that makes the reports
    html = markdown2html_mistune(f"The arm {escape_md(value)} is compared.")
    soup = BeautifulSoup(html, "html.parser")
    assert [t.name for t in soup.find_all(True)] == ["p"]  # no tag, link, image, emphasis, code or heading
    assert soup.get_text().strip() == f"The arm {value} is compared."
    alone = BeautifulSoup(markdown2html_mistune(escape_md(value)), "html.parser")  # a whole cell (a helper's sentence)
    assert [t.name for t in alone.find_all(True)] == ["p"] and alone.get_text().strip() == value


def test_escape_md_keeps_a_value_in_its_sentence_and_takes_any_value():
    assert escape_md("one\ntwo\r\n\nthree\u2028four") == "one two three four"
    assert markdown2html_mistune(escape_md("    indented")) == "<p>indented</p>\n"  # not a code block
    lines = markdown2html_mistune(f"- **Warning.** {escape_md('a' + chr(10) + chr(10) + '# b')}")
    assert BeautifulSoup(lines, "html.parser").find("h1") is None
    assert escape_md(3.5) == "3.5" and escape_md(None) == "None" and escape_md("") == ""
    assert escape_md("&lt;") == "&amp;lt;"  # one pass: an entity in the data stays as typed
    assert escape_md("month-to-month") == "month\\-to\\-month"


def test_a_bound_the_data_cannot_give_reads_not_reached():
    """A median reached whose upper limit is not (the generator's own data, segment_by=region) used to crash 01."""
    f = make_finding("median.north", 16.6, (15.8, math.nan), unit="months", label="Median tenure, north")
    assert (f.ci_low, f.ci_high) == (15.8, None)
    assert f.text() == "Median tenure, north: 16.6 [15.8, not reached] months"
    assert make_finding("x", 2.0, (None, 3.0)).text() == "x: 2 [not reached, 3]"
    assert make_finding("x", 2.0, (math.nan, math.nan)).text() == "x: 2"
    with pytest.raises(ValueError, match=r"value 5 lies outside its interval \[not reached, 3\]"):
        make_finding("x", 5.0, (None, 3.0))
    with pytest.raises(TypeError, match="the interval must be a number"):
        make_finding("x", 5.0, ("abc", 6.0))


def test_a_value_on_its_bound_up_to_rounding_is_accepted():
    """A level with a 100% outcome rate: Wilson's upper limit is 1 up to float rounding, the rate exactly 1."""
    f = make_finding("rate.flag.yes", 1.0, (0.9926, 1.0 - 1e-15), unit="share")
    assert f.ci_high == 1.0
    assert make_finding("x", 0.0, (1e-13, 0.01)).ci_low == 0.0
    with pytest.raises(ValueError, match="lies outside"):
        make_finding("x", 1.0, (0.9, 0.999))
