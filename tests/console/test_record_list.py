"""A long records list in Chromium: the reader scrolls to its end while the page stays light."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.console.conftest import Tab, finished

RECORDS = 10_000
# Rows the DOM may hold at once: the rows in view, a few either side, and two spacers.
MOST_ROWS = 150

# Counts the table's rows after every change the page makes to it, and keeps the most seen.
COUNT_ROWS = """table => {
    window.mostRows = table.querySelectorAll("tr").length;
    new MutationObserver(() => {
        window.mostRows = Math.max(window.mostRows, table.querySelectorAll("tr").length);
    }).observe(table, { childList: true, subtree: true });
}"""
# One reader's scroll to the bottom of what is loaded; true once the last record is drawn.
SCROLL_TO_END = """([table, key]) => {
    const box = table.parentElement;
    box.scrollTop = box.scrollHeight;
    return [...table.querySelectorAll(".record-key a")].some((link) => link.textContent === key);
}"""


def test_ten_thousand_records_scroll_to_the_last_with_about_a_hundred_rows_drawn(tab: Tab):
    served = tab.served
    job_id = served.start_job("ten thousand records", records=RECORDS, steps=1, stepMs=0)
    finished(served, job_id, timeout=60)
    page = tab.sign_in(f"/jobs?run={job_id}")
    table = page.get_by_role("table", name="Records of ten thousand records")
    expect(table.get_by_role("link", name="0", exact=True)).to_be_visible()
    table.evaluate(COUNT_ROWS)

    page.wait_for_function(SCROLL_TO_END, arg=[table.element_handle(), str(RECORDS - 1)], polling=50, timeout=90_000)

    key = page.get_by_role("link", name=str(RECORDS - 1), exact=True)
    last = table.get_by_role("row").filter(has=key)
    expect(last).to_be_visible()
    expect(table).to_have_attribute("aria-rowcount", str(RECORDS + 1))  # every page loaded, and the header
    expect(last).to_have_attribute("aria-rowindex", str(RECORDS + 1))
    assert page.evaluate("window.mostRows") <= MOST_ROWS
    assert table.get_by_role("row").count() <= MOST_ROWS
