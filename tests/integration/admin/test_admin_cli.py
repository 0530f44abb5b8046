"""`dealpulse org|users|teams`: setting up a team from an empty database, all-or-nothing imports, deactivation."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from dealpulse.cli import build_cli
from dealpulse.store import AuditEntry, Team, User

PEOPLE = """email,name,role,team,manager_email
mia@acme.example,Mia Manager,manager,East,mia@acme.example
Ray@Acme.example,Ray Rep,rep,East,mia@acme.example
rae@acme.example,Rae Rep,rep,West,
ada@acme.example,Ada Admin,admin,,
"""


@pytest.fixture
def cli(db, var_dir, monkeypatch, process_runtime):
    """Run `dealpulse ...` in-process against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(var_dir))
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(build_cli(), list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def counts(db) -> tuple[int, int, int]:
    """(users, teams, audit entries) in the database."""
    with db.uow() as uow:
        return tuple(uow.s.scalar(select(func.count()).select_from(t)) for t in (User, Team, AuditEntry))


def test_round_trip_from_an_empty_database_to_api_calls(cli, app, db, tmp_path):
    code, out, err = cli("users", "list")
    assert code != 0 and "dealpulse org create" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("org", "create", "Acme Sales", "--domain", "acme.example", "--domain", "Acme-Mail.example")
    assert code == 0, err
    org_id = int(out.strip())
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE)
    code, out, err = cli("users", "import", str(people), "--org", "Acme Sales")
    assert code == 0, err
    assert out.strip() == "users: 4 created, 0 updated, 0 unchanged; teams: 2 created"

    code, token, err = cli("token", "create", "--user", "ray@acme.example")
    assert code == 0, err
    client = app.test_client()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.strip()}"}).json
    with db.uow() as uow:
        east = uow.s.scalar(select(Team).where(Team.name == "East"))
        mia = uow.s.scalar(select(User.id).where(User.email == "mia@acme.example"))
    assert (me["email"], me["role"], me["team_id"], me["org_id"]) == ("ray@acme.example", "rep", east.id, org_id)
    assert east.manager_id == mia

    _, mia_token, _ = cli("token", "create", "--user", "mia@acme.example")
    manager = client.get("/api/v1/me", headers={"Authorization": f"Bearer {mia_token.strip()}"}).json
    assert (manager["role"], manager["managed_team_ids"]) == ("manager", [east.id])
    _, ada_token, _ = cli("token", "create", "--user", "ada@acme.example")
    ada = {"Authorization": f"Bearer {ada_token.strip()}"}
    listed = client.get("/api/v1/admin/users", headers=ada).json["items"]
    assert {(u["email"], u["role"], u["team"]) for u in listed} == {
        ("mia@acme.example", "manager", "East"), ("ray@acme.example", "rep", "East"),
        ("rae@acme.example", "rep", "West"), ("ada@acme.example", "admin", None)}
    assert client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token.strip()}"}).status_code == 403
    org = client.get("/api/v1/admin/organisation", headers=ada).json
    assert org["domains"] == ["acme.example", "acme-mail.example"]

    code, out, _ = cli("org", "list", "--json")
    assert json.loads(out) == [{"id": org_id, "name": "Acme Sales", "domains": ["acme.example", "acme-mail.example"],
                                "active_users": 4, "teams": 2}]


def test_reimporting_the_same_file_changes_nothing(cli, db, tmp_path):
    cli("org", "create", "Acme Sales", "--domain", "acme.example")
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE)
    assert cli("users", "import", str(people))[0] == 0
    before = counts(db)
    code, out, _ = cli("users", "import", str(people))
    assert code == 0 and out.strip() == "users: 0 created, 0 updated, 4 unchanged; teams: 0 created"
    assert counts(db) == before
    people.write_text(PEOPLE.replace("Rae Rep,rep,West", "Rae Rep,manager,East"))
    code, out, _ = cli("users", "import", str(people))
    assert code == 0 and out.strip().startswith("users: 0 created, 1 updated, 3 unchanged")


def test_bad_rows_are_reported_by_line_and_nothing_is_written(cli, db, tmp_path):
    cli("org", "create", "Acme Sales", "--domain", "acme.example")
    people = tmp_path / "people.csv"
    people.write_text(
        "email,name,role,team,manager_email\n"
        "good@acme.example,Good Rep,rep,North,boss@acme.example\n"   # 2: fine on its own (boss is on line 6)
        "not-an-email,Someone,rep,,\n"                               # 3: bad address
        "ann@acme.example,,boss,,\n"                                 # 4: no name, unknown role
        "good@acme.example,Again,rep,,\n"                            # 5: duplicate address
        "boss@acme.example,Boss,manager,North,\n"                    # 6: fine
        "rob@acme.example,Rob,rep,South,good@acme.example\n"         # 7: a rep cannot manage
        "tia@acme.example,Tia,rep,,boss@acme.example\n"              # 8: a manager without a team
    )
    before = counts(db)
    code, out, err = cli("users", "import", str(people))
    assert code != 0
    lines = err.strip().splitlines()
    assert lines[-1] == "error: 6 problem(s); nothing was imported"
    reported = [int(line.split(":")[1]) for line in lines[:-1]]
    assert reported == [3, 4, 4, 5, 7, 8]
    assert any("not-an-email" in line for line in lines) and any("'boss' is not a role" in line for line in lines)
    assert counts(db) == before
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("email,name,colour\nx@acme.example,X,red\n")
    code, _, err = cli("users", "import", str(bad_header))
    assert code != 0 and ":1: unknown column 'colour'" in err and counts(db) == before


def test_users_add_list_and_deactivate(cli, app, db, tmp_path):
    cli("org", "create", "Acme Sales", "--domain", "acme.example")
    code, out, err = cli("users", "add", "ada@acme.example", "--name", "Ada Admin", "--role", "admin")
    assert code == 0, err
    code, out, err = cli("users", "add", "ray@acme.example", "--name", "Ray Rep", "--role", "rep", "--team", "East")
    assert code == 0, err
    code, _, err = cli("users", "add", "RAY@acme.example", "--name", "Twice", "--role", "rep")
    assert code != 0 and "already a DealPulse user" in err
    _, token, _ = cli("token", "create", "--user", "ray@acme.example")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token.strip()}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    code, out, err = cli("users", "deactivate", "ray@acme.example")
    assert code == 0, err
    assert "ray@acme.example is deactivated (1 token(s) revoked)" in out
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    code, out, _ = cli("users", "list")
    assert any(line.startswith("ray@acme.example") and "deactivated" in line for line in out.splitlines())
    code, _, err = cli("users", "deactivate", "ada@acme.example")
    assert code != 0 and "last active admin" in err
    code, _, err = cli("users", "deactivate", "nobody@acme.example")
    assert code != 0 and "no user" in err


def test_teams_set_uses_the_threshold_keys_and_validation(cli, db):
    cli("org", "create", "Acme Sales", "--domain", "acme.example")
    cli("users", "add", "ray@acme.example", "--name", "Ray Rep", "--role", "rep", "--team", "East")
    code, out, err = cli("teams", "set", "east", "gone_dark_days=28", "tone_floor=-0.4")
    assert code == 0, err
    assert out.splitlines() == ["East: gone_dark_days = 28", "East: tone_floor = -0.4"]
    for bad, message in (("gone_dark_days=99", "between 14 and 42"), ("gone_dark_days=2.5", "whole number"),
                         ("tone_floor=low", "must be a number"), ("colour=red", "unknown threshold"),
                         ("late_stages=nowhere", "no stage 'nowhere'"), ("gone_dark_days", "KEY=VALUE")):
        code, _, err = cli("teams", "set", "East", bad)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, (bad, err)
    code, _, err = cli("teams", "set", "Nowhere", "gone_dark_days=20")
    assert code != 0 and "no team 'Nowhere'" in err
    code, out, _ = cli("teams", "list", "--json")
    east = json.loads(out)[0]
    assert east["custom_thresholds"] == {"gone_dark_days": 28, "tone_floor": -0.4}
    assert cli("teams", "set", "East", "gone_dark_days=default", "tone_floor=default")[0] == 0
    code, out, _ = cli("teams", "list")
    assert "(defaults)" in out.splitlines()[1]


def test_an_import_cannot_demote_the_last_admin(cli, db, tmp_path):
    cli("org", "create", "Acme Sales", "--domain", "acme.example")
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE)
    assert cli("users", "import", str(people))[0] == 0
    people.write_text(PEOPLE.replace("Ada Admin,admin", "Ada Admin,rep"))
    code, _, err = cli("users", "import", str(people))
    assert code != 0 and ":5: this would leave the organisation without an active admin" in err
