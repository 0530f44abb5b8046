"""The dashboard's Forecast, Metrics and forecast-accuracy pages, the agenda's rep numbers and the deal page's
"compared with the deals we won": the figures on the page are the API's, each person sees their own scope, bad
input is a 4xx HTML page."""

from __future__ import annotations

import dataclasses
import html
from datetime import date, timedelta

import lxml.html
import pytest

from dealpulse.domain.periods import period_of
from dealpulse.services.csv_io import import_csv
from dealpulse.services.deal_history import backfill_snapshots
from dealpulse.services.quotas import import_quotas
from dealpulse.store import utcnow
from dealpulse.web.dashboard import fmt_money
from tests.integration.alerts.test_dashboard_pages import sign_in

from .history import HEADER, admin_principal, load_history

FIGURES = ("quota", "closed_won", "commit", "best_case", "pipeline", "stage_weighted", "predicted")


@pytest.fixture
def settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def history(db, world):
    load_history(db, world)
    return world


def _page(client, url, status=200):
    answer = client.get(url)
    assert answer.status_code == status, (url, answer.status_code, answer.get_data(as_text=True)[:500])
    assert answer.mimetype == "text/html"
    return lxml.html.fromstring(answer.get_data(as_text=True))


def _money(value, currency):
    return "—" if value is None else fmt_money(float(value), currency)


def _row_cells(row):
    return [" ".join(td.text_content().split()) for td in row.xpath("./td[contains(@class, 'num')]")]


def _expected_cells(figures, currency):
    coverage = "—" if figures["coverage"] is None else f"{figures['coverage']:.1f}×"
    return [_money(figures[k], currency) for k in FIGURES] + [coverage]


def _api(client, world, who, path, **params):
    answer = client.get(path, query_string=params, headers=world.auth(who))
    assert answer.status_code == 200, answer.json
    return answer.json


def test_the_forecast_page_shows_the_apis_figures_per_rep_team_and_total(client, history):
    sign_in(client, history, "admin")
    doc = _page(client, "/dashboard/forecast?period=2025-Q1")
    api = _api(client, history, "admin", "/api/v1/forecast", period="2025-Q1")
    for rep in api["reps"]:
        for currency, figures in rep["figures"].items():
            row = doc.xpath(f"//tr[@class='rep'][@data-owner='{rep['owner_email']}'][@data-currency='{currency}']")
            assert len(row) == 1 and _row_cells(row[0]) == _expected_cells(figures, currency)
    for team in api["teams"]:
        for currency, figures in team["figures"].items():
            row = doc.xpath(f"//tr[@class='team'][@data-team='{team['name']}'][@data-currency='{currency}']")[0]
            assert _row_cells(row) == _expected_cells(figures, currency)
    totals = {r.get("data-currency"): _row_cells(r) for r in doc.xpath("//tr[@class='total']")}
    assert totals == {c: _expected_cells(f, c) for c, f in api["total"].items()}
    assert set(totals) == {"EUR", "GBP", "USD"}  # one row per currency, never a mixed sum
    # No win model for so few deals: predicted is the stage fallback and the page says why.
    assert "not enough history" in doc.get_element_by_id("predicted-note").text_content()


def test_a_rep_sees_only_their_own_forecast_and_another_reps_is_an_html_403(client, history):
    sign_in(client, history, "rep.a2")
    doc = _page(client, "/dashboard/forecast?period=2025-Q1")
    assert {r.get("data-owner") for r in doc.xpath("//tr[@class='rep']")} == {"rep.a2@seller.example"}
    total = doc.xpath("//tr[@class='total'][@data-currency='USD']")[0]
    assert _row_cells(total)[1] == "2,000 USD"  # a2's own closed won only
    denied = _page(client, "/dashboard/forecast?period=2025-Q1&owner=rep.a1@seller.example", status=403)
    assert "Not allowed" in denied.text_content()
    assert not doc.xpath("//nav//a[text()='Forecast accuracy']")  # reps have no accuracy page


def test_a_manager_sees_their_team_and_not_the_other(client, history):
    sign_in(client, history, "manager.a")
    doc = _page(client, "/dashboard/forecast?period=2025-Q1")
    assert {r.get("data-owner") for r in doc.xpath("//tr[@class='rep']")} == {"rep.a1@seller.example", "rep.a2@seller.example"}
    _page(client, "/dashboard/forecast?period=2025-Q1&team=Test Team B", status=403)
    narrowed = _page(client, "/dashboard/forecast?period=2025-Q1&owner=rep.a1@seller.example")
    assert {r.get("data-owner") for r in narrowed.xpath("//tr[@class='rep']")} == {"rep.a1@seller.example"}


@pytest.mark.parametrize("period", ["2025-Q5", "2025-13", "next quarter", "2025-Q1x", "x" * 400])
def test_the_period_picker_rejects_a_bad_period_with_a_clear_422(client, history, period):
    sign_in(client, history, "admin")
    doc = _page(client, "/dashboard/forecast?" + f"period={period}", status=422)
    assert "period" in doc.text_content() and "Invalid filter" in doc.text_content()


def test_the_trend_chart_needs_snapshots_and_ends_on_the_periods_closed_won(client, db, history):
    sign_in(client, history, "admin")
    before = _page(client, "/dashboard/forecast?period=2025-Q1")
    assert "no pipeline snapshot is stored" in before.get_element_by_id("trend-note").text_content()
    with db.uow() as uow:
        backfill_snapshots(uow, admin_principal(db, history).org_id, date(2025, 1, 1), date(2025, 4, 1))
    doc = _page(client, "/dashboard/forecast?period=2025-Q1")
    assert not doc.xpath("//*[@id='trend-note']")
    api = _api(client, history, "admin", "/api/v1/forecast", period="2025-Q1")
    figure = doc.get_element_by_id("trend-USD")
    svg = figure.xpath(".//svg")[0]
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "trend-caption-USD"
    assert len(svg.xpath(".//text[contains(@class, 'axis')]")) >= 5  # 3 amounts and the dates
    rows = [[" ".join(td.text_content().split()) for td in tr.xpath("./td")] for tr in figure.xpath(".//table//tbody/tr")]
    assert [r[0] for r in rows][:2] == ["2025-01-01", "2025-01-08"] and rows[-1][0] == "2025-04-01"
    assert rows[-1][1] == _money(api["total"]["USD"]["closed_won"], "USD")  # what closed by the period's end
    # On 1 Jan no deal of the quarter existed yet; a week later the commit line stands on O1 (10000 USD commit
    # closing 15 Mar) with nothing closed yet, and best case adds O2 (5000 USD, 1 Feb).
    assert rows[0][1:3] == ["0 USD", "0 USD"]
    assert rows[1][1:4] == ["0 USD", "10,000 USD", "15,000 USD"], rows


def test_the_metrics_page_shows_the_apis_figures_and_the_funnel(client, history):
    sign_in(client, history, "admin")
    doc = _page(client, "/dashboard/metrics?from=2025-01-01&to=2025-03-31")
    api = _api(client, history, "admin", "/api/v1/metrics", **{"from": "2025-01-01", "to": "2025-03-31"})
    text = lambda i: " ".join(doc.get_element_by_id(i).text_content().split())  # noqa: E731
    assert text("win-rate") == f"{api['win_rate'] * 100:.0f} %"
    assert text("won-lost") == f"{api['won']} won, {api['lost']} lost"
    assert text("avg-won") == " · ".join(fmt_money(float(a), c) for c, a in api["avg_won_amount"].items())
    assert text("win-rate-amount") == " · ".join(f"{c} {r * 100:.0f} %" for c, r in api["win_rate_by_amount"].items())
    assert text("cycle") == f"median {api['cycle_days_median']}, mean {api['cycle_days_mean']}"
    funnel = [[c.text_content() for c in tr.xpath("./th|./td")] for tr in doc.xpath("//table[@id='funnel-table']/tbody/tr")]
    assert funnel == [[s["name"], str(s["reached"]), str(s["lost_at"]),
                       "—" if s["conversion"] is None else f"{s['conversion'] * 100:.0f} %"] for s in api["stages"]]
    svg = doc.xpath("//figure[@id='funnel-figure']//svg")[0]
    assert svg.get("role") == "img" and len(svg.xpath(".//rect[contains(@class, 'reached')]")) == len(api["stages"])
    reps = {tr.get("data-owner"): _row_cells(tr) for tr in doc.xpath("//table[@id='reps-table']/tbody/tr")}
    a1 = next(o for o in api["by_owner"] if o["owner_email"] == "rep.a1@seller.example")
    assert reps["rep.a1@seller.example"][-1] == "USD 50 %" == f"USD {a1['quota_attainment']['USD'] * 100:.0f} %"


def test_a_rep_sees_only_their_own_metrics_and_bad_filters_are_4xx(client, history):
    sign_in(client, history, "rep.a1")
    doc = _page(client, "/dashboard/metrics")
    assert {tr.get("data-owner") for tr in doc.xpath("//table[@id='reps-table']/tbody/tr")} == {"rep.a1@seller.example"}
    api = _api(client, history, "rep.a1", "/api/v1/metrics")
    assert " ".join(doc.get_element_by_id("won-lost").text_content().split()) == f"{api['won']} won, {api['lost']} lost"
    _page(client, "/dashboard/metrics?owner=rep.b1@seller.example", status=403)
    assert "from" in _page(client, "/dashboard/metrics?from=31-01-2025", status=422).text_content()
    _page(client, "/dashboard/metrics?from=2025-03-01&to=2025-01-01", status=422)
    _page(client, "/dashboard/metrics?team=no such team", status=422)


def test_forecast_accuracy_is_for_managers_and_shows_the_backtest(app, client, history):
    rep = app.test_client()
    sign_in(rep, history, "rep.a1")
    assert "managers" in _page(rep, "/dashboard/forecast/accuracy", status=403).text_content()
    sign_in(client, history, "manager.a")
    doc = _page(client, "/dashboard/forecast/accuracy?quarters=8")
    api = _api(client, history, "manager.a", "/api/v1/forecast/backtest", quarters=8)
    for period in api["periods"]:
        for method, result in period["methods"].items():
            row = doc.xpath(f"//tr[@data-period='{period['period']}'][@data-method='{method}']")[0]
            cells = [" ".join(td.text_content().split()) for td in row.xpath("./td")]
            assert fmt_money(result["forecast"], api["currency"]) in cells
            if result["brier"] is not None:
                assert f"{result['brier']:.4f}" in cells
    assert "Honest notes" in doc.text_content()
    _page(client, "/dashboard/forecast/accuracy?quarters=99", status=422)


def test_the_agenda_shows_the_reps_numbers_the_same_for_manager_and_rep(app, client, db, history):
    today = utcnow().date()
    quarter = period_of(today)
    rows = (f"N1,Now won,Test Acme,rep.a1@seller.example,closed_won,700,USD,{today - timedelta(days=40)},{today},,\n"
            f"N2,Now lost,Test Acme,rep.a1@seller.example,closed_lost,300,USD,{today - timedelta(days=40)},{today},,\n"
            f"N3,Now open,Test Acme,rep.a1@seller.example,proposal,4000,USD,{today - timedelta(days=10)},,commit,"
            f"{quarter.end - timedelta(days=1)}\n")
    with db.uow() as uow:
        import_csv(uow, admin_principal(db, history), "opportunities", HEADER + rows)
    with db.uow() as uow:
        import_quotas(uow, admin_principal(db, history), f"owner_email,period,amount,currency\nrep.a1@seller.example,{quarter.key},1400,USD\n")
    seen = []
    for who in ("manager.a", "rep.a1"):
        browser = app.test_client()
        sign_in(browser, history, who)
        doc = _page(browser, f"/dashboard/agenda?rep={history.users['rep.a1']}")
        section = doc.get_element_by_id("rep-numbers")
        seen.append((" ".join(doc.get_element_by_id("rep-win-rate").text_content().split()),
                     [_row_cells(tr) for tr in section.xpath(".//tbody/tr")]))
    assert seen[0] == seen[1] == ("50 %", [["700 USD", "4,000 USD", "1,400 USD", "50 %"]])
    forecast = _api(client, history, "rep.a1", "/api/v1/forecast", period=quarter.key)["reps"][0]["figures"]["USD"]
    assert (forecast["closed_won"], forecast["commit"]) == ("700.00", "4000.00")


def test_the_deal_page_compares_the_deal_with_the_deals_we_won(client, history):
    sign_in(client, history, "rep.a1")
    deal = history.opportunities["a1_acme"]
    page = html.unescape(client.get(f"/dashboard/deals/{deal}").get_data(as_text=True))
    api = _api(client, history, "rep.a1", f"/api/v1/opportunities/{deal}/compared-with-won")
    assert "Compared with the deals we won" in page
    assert api["gaps"] or api["note"] or "Nothing missing" in page
    for gap in api["gaps"]:
        assert gap["reason"] in page
    if api["note"]:
        assert api["note"] in page


@pytest.mark.parametrize("path", ["/dashboard/forecast", "/dashboard/metrics", "/dashboard/forecast/accuracy"])
def test_the_pages_need_a_signed_in_user(client, path):
    answer = client.get(path)
    assert answer.status_code == 302 and "/signin" in answer.headers["Location"]
