"""A hand-built closed history with known answers, imported through the CSV handles (`import opportunities`,
quotas) into the test world's organisation. Every figure the tests expect is worked out in the comments."""

from __future__ import annotations

from dealpulse.services.csv_io import import_csv
from dealpulse.services.quotas import import_quotas
from dealpulse.store import User
from dealpulse.web.auth import principal_for_user

HEADER = "external_id,name,account,owner_email,stage,amount,currency,created_at,closed_at,forecast_category,close_date\n"

# First import: L1 and L3 are still open (proposal, negotiation); they are lost in the second import, so the
# funnel knows how far they got. L2 is imported lost directly (it reached only the first stage).
FIRST = HEADER + (
    "W1,Acme one,Test Acme,rep.a1@seller.example,closed_won,1000,USD,2025-01-01,2025-01-11,,\n"     # 10 days
    "W2,Globex one,Test Globex,rep.a1@seller.example,closed_won,3000,EUR,2025-02-01,2025-03-03,,\n"  # 30 days
    "L1,Acme two,Test Acme,rep.a1@seller.example,proposal,3000,USD,2025-01-05,,,\n"
    "W3,Initech one,Test Initech,rep.a2@seller.example,closed_won,2000,USD,2025-01-10,2025-01-30,,\n"  # 20 days
    "L2,Initech two,Test Initech,rep.a2@seller.example,closed_lost,500,USD,2025-01-12,2025-02-10,,\n"
    "W4,Acme three,Test Acme,rep.b1@seller.example,closed_won,4000,GBP,2025-03-01,2025-03-21,,\n"   # 20 days, no activity
    "L3,Globex two,Test Globex,rep.b1@seller.example,negotiation,1000,GBP,2025-02-01,,,\n"
    # open deals for the forecast of 2025-Q1 (by close date)
    "O1,Acme big,Test Acme,rep.a1@seller.example,proposal,10000,USD,2025-01-02,,commit,2025-03-15\n"
    "O2,Acme mid,Test Acme,rep.a1@seller.example,demo,5000,USD,2025-01-02,,best_case,2025-02-01\n"
    "O3,Initech small,Test Initech,rep.a2@seller.example,qualification,2000,USD,2025-01-02,,pipeline,2025-03-31\n"
    "O4,Initech odd,Test Initech,rep.a2@seller.example,negotiation,9999,USD,2025-01-02,,omitted,2025-01-15\n"
    "O5,Globex later,Test Globex,rep.b1@seller.example,demo,1000,GBP,2025-01-02,,pipeline,2025-04-01\n"
)
SECOND = HEADER + (
    "L1,Acme two,Test Acme,rep.a1@seller.example,closed_lost,3000,USD,2025-01-05,2025-02-04,,\n"
    "L3,Globex two,Test Globex,rep.b1@seller.example,closed_lost,1000,GBP,2025-02-01,2025-03-25,,\n"
)
QUOTAS = (
    "owner_email,period,amount,currency\n"
    "rep.a1@seller.example,2025-Q1,2000,USD\n"   # a1 won 1000 USD in Q1 -> 0.5
    "rep.a1@seller.example,2025-01,500,USD\n"    # inside the counted quarter: not counted twice
    "rep.a2@seller.example,2025-02,1000,USD\n"   # a2 won nothing in February -> 0.0
)
WINDOW = ("2025-01-01", "2025-03-31")


def admin_principal(db, world):
    """The test organisation's admin as a principal."""
    return principal_of(db, world, "admin")


def principal_of(db, world, who: str, surface: str = "api"):
    """The principal of the world's user `who` ("rep.a1", "manager.a", "other.admin", ...)."""
    with db.uow() as uow:
        return principal_for_user(uow.s, uow.s.get(User, world.users[who]), surface)


def load_history(db, world) -> None:
    """Import the history above (two passes), then the quotas."""
    admin = admin_principal(db, world)
    for text in (FIRST, SECOND):
        with db.uow() as uow:
            import_csv(uow, admin, "opportunities", text)
    with db.uow() as uow:
        import_quotas(uow, admin, QUOTAS)
