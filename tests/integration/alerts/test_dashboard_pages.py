"""The dashboard's server-rendered pages through the Flask client: sign-in, scoping, privacy, CSRF, escaping, CSP."""

from __future__ import annotations

import dataclasses
import re

import pytest

from dealpulse.services.alert_engine import run_alerts

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def sign_in(client, world, who: str) -> str:
    """Sign in through the demo picker; returns the session's CSRF token."""
    page = client.get("/signin/demo")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    answer = client.post("/signin/demo", data={"csrf_token": token, "user_id": world.users[who]})
    assert answer.status_code == 302
    return CSRF.search(client.get("/dashboard/alerts").get_data(as_text=True)).group(1)


def test_pages_need_a_signed_in_user(client):
    answer = client.get("/dashboard/")
    assert answer.status_code == 302 and "/signin" in answer.headers["Location"]


def test_the_demo_picker_is_disabled_outside_the_demo(app, client, world):
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], demo=False)
    assert client.get("/signin/demo").status_code == 404
    assert client.post("/signin/demo", data={"user_id": world.users["admin"]}).status_code in (400, 404)
    assert "Demo" not in client.get("/signin").get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(client, db, settings, world, deals):
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    assert client.post("/signin/demo", data={"user_id": world.users["manager.a"]}).status_code == 400
    sign_in(client, world, "manager.a")
    from dealpulse.store import Alert
    with db.uow() as uow:
        alert_id = uow.s.query(Alert.id).filter(Alert.rule == "gone_dark", Alert.opportunity_id == world.opportunities["a1_acme"]).scalar()
    assert client.post(f"/dashboard/alerts/{alert_id}/acknowledge", data={"csrf_token": "forged"}).status_code == 400
    assert client.post(f"/dashboard/alerts/{alert_id}/acknowledge").status_code == 400


def test_manager_sees_only_their_teams_pipeline_and_acknowledges(client, db, settings, world, deals):
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    token = sign_in(client, world, "manager.a")

    page = client.get("/dashboard/").get_data(as_text=True)
    assert "Test Acme platform" in page and "Test Initech pilot" in page
    assert "Test Acme analytics" not in page and "Other " not in page  # team B's deal, the other organisation
    assert "<svg" in page and "Gone dark" in page
    assert client.get(f"/dashboard/deals/{world.opportunities['b1_acme']}").status_code == 404

    deal_page = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)
    alert_id = int(re.search(r'/dashboard/alerts/(\d+)/acknowledge', deal_page).group(1))
    done = client.post(f"/dashboard/alerts/{alert_id}/acknowledge", data={"csrf_token": token, "next": "/dashboard/alerts"})
    assert done.status_code == 303
    acked = client.get("/dashboard/alerts?state=acknowledged").get_data(as_text=True)
    assert f"/dashboard/alerts/{alert_id}/resolve" in acked
    deal = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)
    assert "Alert gone dark: open → acknowledged" in deal and "Test Manager A" in deal and "acknowledged" in deal  # the audit history


def test_sorting_filtering_and_bad_filters(client, db, settings, world, deals):
    sign_in(client, world, "admin")
    by_amount = client.get("/dashboard/?sort=amount&dir=desc").get_data(as_text=True)
    assert by_amount.index("Test Acme platform") < by_amount.index("Test Initech pilot")  # 50,000 USD before 20,000 USD
    only_demo = client.get("/dashboard/?stage=demo").get_data(as_text=True)
    assert "Test Initech pilot" in only_demo and "Test Acme platform" not in only_demo
    assert client.get("/dashboard/?sort=nonsense").status_code == 422
    assert client.get("/dashboard/?owner=abc").status_code == 422


def test_private_content_is_hidden_from_managers_and_email_text_is_escaped(client, db, settings, world, deals):
    deals.activity("a1_acme", days_ago=2, text="Our secret merger plan", private=True, score=0.2)
    deals.activity("a1_acme", days_ago=1, text='<script>alert(1)</script><img src=x onerror=alert(2)>', score=0.0)
    sign_in(client, world, "manager.a")

    page = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)

    assert "secret merger" not in page and "Private — content hidden" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    client.post("/signout", data={"csrf_token": CSRF.search(page).group(1)})
    sign_in(client, world, "rep.a1")
    assert "secret merger" in client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)


def test_pages_carry_a_strict_csp_and_no_inline_script_or_style(client, world):
    sign_in(client, world, "admin")
    for path in ("/dashboard/", "/dashboard/alerts", "/dashboard/agenda", f"/dashboard/deals/{world.opportunities['a1_acme']}"):
        answer = client.get(path)
        body = answer.get_data(as_text=True)
        csp = answer.headers["Content-Security-Policy"]
        assert answer.status_code == 200
        assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "<script" not in body and "style=" not in body and "<style" not in body


def test_review_agenda_page(client, db, settings, world, deals):
    deals.activity("a1_globex", days_ago=1, score=-0.9, contacts=("cio@globex.test.example",))
    run_alerts(db, settings, world.org_id)
    sign_in(client, world, "manager.a")
    page = client.get(f"/dashboard/agenda?rep={world.users['rep.a1']}").get_data(as_text=True)
    assert "Review agenda: Test Rep A1" in page and "Test Globex expansion" in page
    assert client.get(f"/dashboard/agenda?rep={world.users['rep.b1']}").status_code == 404


def test_review_agenda_page_shows_amounts_per_currency_and_never_adds_them_up(client, world, rep_a1_in_three_currencies):
    sign_in(client, world, "manager.a")
    page = client.get(f"/dashboard/agenda?rep={world.users['rep.a1']}").get_data(as_text=True)

    assert re.findall(r"<h2><a [^>]*>([^<]+)</a></h2>", page) == rep_a1_in_three_currencies
    totals = re.findall(r'<tr><th scope="row">([A-Z]{3})</th><td class="num">(\d+)</td><td class="num">([^<]+)</td>', page)
    assert totals == [("EUR", "1", "120,000 EUR"), ("JPY", "1", "9,000,000 JPY"), ("USD", "1", "50,000 USD")]
    assert "9,170,000" not in page  # no total across currencies anywhere
    assert "same currency" in page  # it says how deals in different currencies are weighed


def test_pipeline_by_stage_chart_keeps_each_currency_apart(client, world, rep_a1_in_three_currencies):
    sign_in(client, world, "manager.a")
    page = client.get("/dashboard/").get_data(as_text=True)

    # Qualification holds 50,000 USD and 9,000,000 JPY: two amounts, not "9,050,000".
    assert "<title>Qualification: 9,000,000 JPY · 50,000 USD, mean health" in page
    assert "9,050,000" not in page


def test_sorting_by_amount_ranks_deals_within_their_currency(client, world, rep_a1_in_three_currencies):
    sign_in(client, world, "manager.a")
    page = client.get("/dashboard/?sort=amount&dir=asc").get_data(as_text=True)

    # 9,000,000 JPY is not the largest deal: amounts are compared within EUR, JPY and USD, never across them.
    keys = {world.opportunities[k]: k for k in ("a1_acme", "a1_globex", "a2_initech", "a1_japan")}
    rows = [keys[int(i)] for i in re.findall(r'href="/dashboard/deals/(\d+)"', page) if int(i) in keys]
    assert list(dict.fromkeys(rows)) == ["a1_globex", "a1_japan", "a2_initech", "a1_acme"]


def test_the_deal_page_reads_the_buyers_tone_in_words_and_shows_none_for_the_reps_own_mail(client, db, settings, world, deals):
    deals.activity("a1_acme", days_ago=2, score=-0.9, label="negative", confidence=0.9, text="We chose another vendor.")
    deals.activity("a1_acme", days_ago=1, direction="outbound", score=-0.95, label="negative", confidence=0.95,
                   text="Sorry to hear that, can we talk?")
    sign_in(client, world, "manager.a")

    page = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)

    assert "Negative · 90% confidence" in page
    assert "95% confidence" not in page and "-0.95" not in page
