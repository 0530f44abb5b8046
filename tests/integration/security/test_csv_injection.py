"""Audit finding 4: CSV export neutralises spreadsheet formulas (OWASP CSV injection) and import restores the value."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.services.csv_io import FORMULA_TRIGGERS, export_csv, import_csv, neutralise_cell, restore_cell
from dealpulse.store import User
from dealpulse.web.auth import principal_for_user

FORMULAS = ['=HYPERLINK("https://evil.example","Renewal")', "+1-2", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)",
            "\tTabbed", "'=already quoted"]


def _admin(db, world):
    with db.uow() as uow:
        return principal_for_user(uow.s, uow.s.get(User, world.users["admin"]), "cli")


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def test_exported_cells_never_start_a_formula_and_import_restores_them(db, world):
    admin = _admin(db, world)
    accounts = _csv(["name", "domains", "industry"], [[f, f"evil{i}.example", f] for i, f in enumerate(FORMULAS)])
    opportunities = _csv(
        ["name", "account", "owner_email", "stage", "amount", "currency", "close_date", "next_step", "probability"],
        [[f, f, "rep.a1@seller.example", "demo", "1000", "EUR", "", f, "20"] for f in FORMULAS],
    )
    with db.uow() as uow:
        import_csv(uow, admin, "accounts", accounts)
    with db.uow() as uow:
        import_csv(uow, admin, "opportunities", opportunities)
    for kind in ("accounts", "opportunities"):
        with db.uow() as uow:
            exported = export_csv(uow, world.org_id, kind)
        cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
        assert not [c for c in cells if c.startswith(FORMULA_TRIGGERS)], kind
        assert "'=HYPERLINK(\"https://evil.example\",\"Renewal\")" in cells  # readable, one apostrophe in front
        with db.uow() as uow:
            again = import_csv(uow, admin, kind, exported)
        assert again.created == again.updated == 0, (kind, again)  # the round trip kept every value as it was


@given(st.text(max_size=40))
def test_neutralised_cells_round_trip_and_are_never_formulas(value):
    cell = neutralise_cell(value)
    assert not cell.startswith(FORMULA_TRIGGERS)
    assert restore_cell(cell) == value


def test_a_hand_written_apostrophe_is_kept_unless_it_shields_a_formula():
    assert restore_cell("'Til Dawn Ltd") == "'Til Dawn Ltd"
    assert restore_cell("'=1+1") == "=1+1"
