"""The seeded organisation in data/org.json is internally consistent and covers the demo's storylines."""

from collections import Counter

import pytest

from dealpulse.demo.orgdata import load_org

STAGES = [
    {"key": "prospecting", "name": "Prospecting", "order": 1, "probability": 10, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "pain_confirmed", "text": "Has the buyer confirmed a pain we solve?"},
                        {"key": "discovery_booked", "text": "Is a discovery call booked?"}]},
    {"key": "qualification", "name": "Qualification", "order": 2, "probability": 20, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "clear_use_case", "text": "A clear use case?"},
                        {"key": "meets_technical_requirements", "text": "Meets the technical requirements?"},
                        {"key": "within_budget", "text": "Within budget?"}]},
    {"key": "demo", "name": "Demo", "order": 3, "probability": 40, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "champion_saw_demo", "text": "Has our champion seen the demo?"},
                        {"key": "success_criteria_agreed", "text": "Are success criteria agreed?"},
                        {"key": "economic_buyer_identified", "text": "Is the economic buyer identified?"}]},
    {"key": "proposal", "name": "Proposal", "order": 4, "probability": 60, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "proposal_with_economic_buyer", "text": "Has the economic buyer received the proposal?"},
                        {"key": "mutual_plan_agreed", "text": "Is a mutual action plan agreed?"},
                        {"key": "procurement_process_known", "text": "Do we know the procurement process?"}]},
    {"key": "negotiation", "name": "Negotiation", "order": 5, "probability": 80, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "legal_review_started", "text": "Has legal review started?"},
                        {"key": "pricing_approved", "text": "Is pricing approved on both sides?"},
                        {"key": "signatory_known", "text": "Do we know who signs?"}]},
    {"key": "closed_won", "name": "Closed won", "order": 6, "probability": 100, "is_closed": True, "is_won": True,
     "exit_questions": []},
    {"key": "closed_lost", "name": "Closed lost", "order": 7, "probability": 0, "is_closed": True, "is_won": False,
     "exit_questions": []},
]
BUYING_ROLES = {"economic_buyer", "champion", "technical_evaluator", "decision_maker", "influencer", "blocker",
                "procurement", "legal", "user"}


@pytest.fixture(scope="module")
def org():
    return load_org()


def test_stages_are_the_agreed_pipeline(org):
    assert org["stages"] == STAGES


def test_teams_have_a_manager_of_that_team(org):
    users = {u["email"]: u for u in org["users"]}
    assert {t["key"] for t in org["teams"]} == {"east", "west"}
    for team in org["teams"]:
        manager = users[team["manager"]]
        assert manager["role"] == "manager" and manager["team"] == team["key"]
        assert 14 <= team["gone_dark_after_days"] <= 42


def test_people_two_managers_one_admin_two_reps_per_team_each_with_an_alias(org):
    roles = Counter(u["role"] for u in org["users"])
    assert roles == {"manager": 2, "admin": 1, "rep": 4}
    assert Counter(u["team"] for u in org["users"] if u["role"] == "rep") == {"east": 2, "west": 2}
    addresses = [u["email"] for u in org["users"]] + [a for u in org["users"] for a in u["aliases"]]
    assert len(addresses) == len(set(addresses))
    for user in org["users"]:
        assert user["email"].split("@")[1] in org["organisation"]["domains"]
        assert all(a.split("@")[1] in org["organisation"]["domains"] for a in user["aliases"])
        if user["role"] == "rep":
            assert user["aliases"]


def test_every_reference_resolves(org):
    accounts = {a["key"] for a in org["accounts"]}
    contacts = {c["email"]: c for c in org["contacts"]}
    reps = {u["email"] for u in org["users"] if u["role"] == "rep"}
    stages = {s["key"]: s for s in org["stages"]}
    questions = {q["key"] for s in org["stages"] for q in s["exit_questions"]}
    assert len(contacts) == len(org["contacts"])
    assert all(c["account"] in accounts for c in org["contacts"])
    keys = [o["key"] for o in org["opportunities"]]
    assert len(keys) == len(set(keys))
    for opp in org["opportunities"]:
        assert opp["account"] in accounts and opp["owner"] in reps and opp["stage"] in stages
        assert set(opp["exit_answers"]) <= questions
        assert 12_000 <= opp["amount"] <= 450_000 and opp["currency"] in {"USD", "EUR", "GBP"}
        for member in opp["buying_team"]:
            assert member["role"] in BUYING_ROLES
            assert contacts[member["contact"]]["account"] == opp["account"], (opp["key"], member)


def test_domains_are_reserved_example_domains(org):
    for account in org["accounts"]:
        assert account["domains"] and all(d.endswith(".example") for d in account["domains"])
    for contact in org["contacts"]:
        domain = contact["email"].split("@")[1]
        assert domain.endswith(".example") or domain == "gmail.com"
    free_mail = [c for c in org["contacts"] if c["email"].endswith("@gmail.com")]
    assert len(free_mail) == 1


def test_each_account_has_three_to_six_titled_contacts(org):
    per_account = Counter(c["account"] for c in org["contacts"])
    assert len(org["accounts"]) >= 12
    assert all(3 <= per_account[a["key"]] <= 6 for a in org["accounts"])
    assert all(c["title"] for c in org["contacts"])


def test_pipeline_covers_every_stage_and_the_risk_storylines(org):
    opps = org["opportunities"]
    by_stage = Counter(o["stage"] for o in opps)
    assert set(by_stage) == {s["key"] for s in STAGES}
    assert by_stage["closed_won"] == 2 and 1 <= by_stage["closed_lost"] <= 2
    assert 18 <= len(opps) <= 24
    assert {"EUR", "GBP"} <= {o["currency"] for o in opps}
    assert any(o["close_date_pushes"] >= 2 for o in opps)
    open_opps = [o for o in opps if o["stage"] not in {"closed_won", "closed_lost"}]
    assert any(o["close_in_days"] < 0 for o in open_opps)
    open_per_account = Counter(o["account"] for o in open_opps)
    assert max(open_per_account.values()) >= 2
