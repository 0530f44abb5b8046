"""Whatever a mail client sends as the open message, `/api/v1/context` answers 200 or a 422 naming the field."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ADDRESS = st.one_of(
    st.text(max_size=60),
    st.emails().map(str),
    st.builds(lambda name, mail: f'"{name}" <{mail}>', st.text(max_size=20), st.emails()),
    st.sampled_from(["buyer@acme.test.example", "Ann <BUYER@ACME.TEST.EXAMPLE>", "cio@globex.test.example", "@", "<>"]),
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "message_id": st.one_of(st.text(max_size=80), st.sampled_from(["<a@b>", "<>", " ", "x" * 1001])),
        "provider_id": st.text(max_size=40),
        "from": ADDRESS,
        "to": st.lists(ADDRESS, max_size=5),
        "cc": st.lists(ADDRESS, max_size=3),
        "subject": st.text(max_size=100),
        "body": st.one_of(st.none(), st.text(max_size=300)),
        "references": st.lists(st.text(max_size=30), max_size=3),
        "to_typo": st.just("x"),
        "in_reply_to": st.one_of(st.text(max_size=30), st.integers()),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=FIELDS)
def test_any_message_description_gets_an_answer_never_a_crash(client, world, active_tone, body):
    response = client.post("/api/v1/context", json=body, headers=world.auth("rep.a1"))
    assert response.status_code in (200, 422), response.get_json()
    data = response.get_json()
    if response.status_code == 422:
        assert data["errors"] and all(e["field"] for e in data["errors"])
    else:
        assert data["status"] in ("matched", "choose", "no_deal", "no_customer")
