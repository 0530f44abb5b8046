"""The dashboard's deal page sets the forecast category: audited, version-guarded, the owner's deals only."""

from __future__ import annotations

import dataclasses

import pytest

from dealpulse.store import AuditEntry, Opportunity
from tests.integration.alerts.test_dashboard_pages import sign_in


@pytest.fixture
def settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def test_the_deal_page_sets_the_forecast_category(client, db, world):
    token = sign_in(client, world, "rep.a1")
    deal = world.opportunities["a1_acme"]
    page = client.get(f"/dashboard/deals/{deal}").get_data(as_text=True)
    assert 'name="forecast_category"' in page and '<option value="pipeline" selected>' in page
    done = client.post(f"/dashboard/deals/{deal}/forecast-category",
                       data={"csrf_token": token, "version": "1", "forecast_category": "commit"})
    assert done.status_code == 303
    assert '<option value="commit" selected>' in client.get(f"/dashboard/deals/{deal}").get_data(as_text=True)
    stale = client.post(f"/dashboard/deals/{deal}/forecast-category",
                        data={"csrf_token": token, "version": "1", "forecast_category": "omitted"})
    assert stale.status_code == 409
    bad = client.post(f"/dashboard/deals/{deal}/forecast-category",
                      data={"csrf_token": token, "version": "2", "forecast_category": "maybe"})
    assert bad.status_code == 422
    others = client.post(f"/dashboard/deals/{world.opportunities['a2_initech']}/forecast-category",
                         data={"csrf_token": token, "version": "1", "forecast_category": "commit"})
    assert others.status_code == 404
    with db.uow() as uow:
        assert uow.s.get(Opportunity, deal).forecast_category == "commit"
        assert uow.s.get(Opportunity, world.opportunities["a2_initech"]).forecast_category == "pipeline"
        audit = uow.s.query(AuditEntry).filter_by(entity_id=deal, field="forecast_category").all()
    assert [(a.old_value, a.new_value, a.surface) for a in audit] == [('"pipeline"', '"commit"', "dashboard")]
