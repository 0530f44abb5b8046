"""What the Microsoft Graph stand-in serves conforms to Graph's own CSDL ($metadata), converted to JSON Schema."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from jsonschema import Draft202012Validator
from lxml import etree

from dealpulse.config import PROJECT_ROOT, Settings
from dealpulse.mail.graph import GraphConnector
from dealpulse.standins.faults import FaultPlan
from dealpulse.standins.microsoft import MicrosoftStandIn, NotificationReceiver

CSDL = PROJECT_ROOT.parent / "shared" / "vendor" / "msgraph" / "v1.0-cleanMetadata.xml"
if not CSDL.exists():
    pytest.skip(f"Graph CSDL not found at {CSDL} (vendor schemas live outside the repository)", allow_module_level=True)

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
OWNER = "rep@contoso.example"
_DATE_TIME_OFFSET = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$"
_PRIMITIVES: dict[str, dict[str, Any]] = {
    "Edm.String": {"type": "string"},
    "Edm.Boolean": {"type": "boolean"},
    "Edm.Byte": {"type": "integer"}, "Edm.SByte": {"type": "integer"}, "Edm.Int16": {"type": "integer"},
    "Edm.Int32": {"type": "integer"}, "Edm.Int64": {"type": "integer"},
    "Edm.Double": {"type": "number"}, "Edm.Single": {"type": "number"}, "Edm.Decimal": {"type": "number"},
    "Edm.DateTimeOffset": {"type": "string", "pattern": _DATE_TIME_OFFSET},
    "Edm.Date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    "Edm.TimeOfDay": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"},
    "Edm.Duration": {"type": "string", "pattern": r"^-?P"},
    "Edm.Guid": {"type": "string", "pattern": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
    "Edm.Binary": {"type": "string", "pattern": r"^[A-Za-z0-9+/_-]*={0,2}$"},
    "Edm.Stream": {"type": "string"},
    "Edm.Untyped": {},
}
#: Instance annotations any Graph object may carry (`@odata.type`, `@odata.etag`, `property@odata.type`, ...).
_ANNOTATIONS = {r"^@odata\.": {}, r"^[A-Za-z]+@odata\.": {}}
_REMOVED = {"type": "object", "properties": {"reason": {"enum": ["changed", "deleted"]}},
            "required": ["reason"], "additionalProperties": False}
_ERROR = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "minLength": 1}, "message": {"type": "string"},
                       "innerError": {"type": "object"}},
    }},
}


class CsdlJsonSchemas:
    """JSON Schemas for `microsoft.graph` types, built from the CSDL: Edm types mapped to JSON types,
    inherited properties included, navigation properties excluded, Nullable honoured, no other properties."""

    def __init__(self, path: Path):
        parser = etree.XMLParser(no_network=True, huge_tree=True, resolve_entities=False)
        root = etree.parse(str(path), parser).getroot()
        schema = next(s for s in root.iter(f"{EDM}Schema") if s.get("Namespace") == "microsoft.graph")
        self.types = {
            element.get("Name"): element
            for element in schema
            if element.tag in (f"{EDM}EntityType", f"{EDM}ComplexType", f"{EDM}EnumType")
        }
        self.defs: dict[str, dict[str, Any]] = {}
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, type_name: str) -> Draft202012Validator:
        """A validator for `microsoft.graph.<type_name>` (entities also accept `@removed`)."""
        if type_name not in self._validators:
            ref = self._ref(f"graph.{type_name}")
            defs = dict(self.defs)  # this type's closure is complete now
            schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **ref, "$defs": defs}
            Draft202012Validator.check_schema(schema)
            self._validators[type_name] = Draft202012Validator(schema)
        return self._validators[type_name]

    def properties(self, type_name: str) -> set[str]:
        """Structural property names of a type, inherited ones included."""
        self._ref(f"graph.{type_name}")
        return set(self.defs[type_name]["properties"]) - {"@removed"}

    def _local(self, qualified: str) -> str:
        for prefix in ("graph.", "microsoft.graph."):
            if qualified.startswith(prefix) and "." not in qualified[len(prefix):]:
                return qualified[len(prefix):]
        raise KeyError(f"type {qualified} is outside the microsoft.graph namespace")

    def _ref(self, qualified: str) -> dict[str, Any]:
        name = self._local(qualified)
        if name not in self.defs:
            self.defs[name] = {}  # placeholder first: types may refer to themselves
            self.defs[name] = self._build(self.types[name])
        return {"$ref": f"#/$defs/{name}"}

    def _build(self, element: etree._Element) -> dict[str, Any]:
        if element.tag == f"{EDM}EnumType":
            members = [m.get("Name") for m in element.iter(f"{EDM}Member")]
            if element.get("IsFlags") == "true":
                alternatives = "|".join(map(re.escape, members))
                return {"type": "string", "pattern": rf"^({alternatives})(,\s*({alternatives}))*$"}
            return {"type": "string", "enum": members}
        properties: dict[str, Any] = {}
        for current in self._lineage(element):
            for prop in current.findall(f"{EDM}Property"):
                properties[prop.get("Name")] = self._property(prop.get("Type"), prop.get("Nullable") != "false")
        if element.tag == f"{EDM}EntityType":
            properties["@removed"] = _REMOVED
        return {"type": "object", "properties": properties, "patternProperties": _ANNOTATIONS,
                "additionalProperties": False}

    def _lineage(self, element: etree._Element) -> Iterator[etree._Element]:
        while element is not None:
            yield element
            base = element.get("BaseType")
            element = self.types[self._local(base)] if base else None

    def _property(self, type_name: str, nullable: bool) -> dict[str, Any]:
        if type_name.startswith("Collection(") and type_name.endswith(")"):
            return {"type": "array", "items": self._property(type_name[len("Collection("):-1], nullable)}
        schema = _PRIMITIVES[type_name] if type_name.startswith("Edm.") else self._ref(type_name)
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema


@pytest.fixture(scope="module")
def csdl() -> CsdlJsonSchemas:
    return CsdlJsonSchemas(CSDL)


@pytest.fixture(scope="module")
def ms() -> Iterator[MicrosoftStandIn]:
    with MicrosoftStandIn(users=[OWNER]) as standin:
        yield standin


@pytest.fixture(scope="module")
def graph(ms: MicrosoftStandIn) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = ms.ca_file
    token = ms.issue_access_token(audience="https://graph.microsoft.com", scp="Mail.Read Calendars.Read User.Read", upn=OWNER)
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def assert_valid(validator: Draft202012Validator, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def delta_pages(graph: requests.Session, url: str, page_size: int = 4) -> list[dict[str, Any]]:
    pages = []
    while True:
        response = graph.get(url, headers={"Prefer": f'odata.maxpagesize={page_size}, IdType="ImmutableId"'})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        assert ("@odata.nextLink" in page) != ("@odata.deltaLink" in page), "a page has exactly one of the links"
        if "@odata.deltaLink" in page:
            return pages
        url = page["@odata.nextLink"]


def seed_mail(ms: MicrosoftStandIn) -> None:
    start = datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc)
    ms.add_message(OWNER, from_="Dana Buyer <dana@acme.example>", to=[OWNER], cc=["cfo@acme.example"],
                   subject="Pricing", body_html="<div><p>Could you send the <b>quote</b>?</p></div>", sent_at=start)
    ms.add_message(OWNER, from_=("Émile Ölund", "emile@acme.example"), to=[OWNER], bcc=[OWNER],
                   reply_to=["deals@acme.example"], subject="Ünïcode ✓", body_text="Plain text\nsecond line",
                   sent_at=start + timedelta(hours=1), in_reply_to="abc@acme.example", has_attachments=True,
                   categories=["Customer"])
    sent = ms.add_message(OWNER, folder="sentitems", to=["dana@acme.example"], subject="Re: Pricing",
                          body_text="Attached.", sent_at=start + timedelta(hours=2))
    gone = ms.add_message(OWNER, from_="spam@else.example", to=[OWNER], subject="Soon deleted", body_text="x")
    ms.delete_message(OWNER, gone)
    ms.update_message(OWNER, sent, isRead=True)


# -- the converter can fail ---------------------------------------------------------------------------------
def test_the_schemas_follow_the_csdl(csdl):
    message = csdl.properties("message")
    assert {"subject", "internetMessageId", "toRecipients", "body", "id", "changeKey", "categories"} <= message
    assert "attachments" not in message  # a navigation property
    assert "start" in csdl.properties("event") and "emailAddress" in csdl.properties("attendee")
    validator = csdl.validator("message")
    assert not validator.is_valid({"id": "x", "subjekt": "typo"})
    assert not validator.is_valid({"id": "x", "isRead": "yes"})
    assert not validator.is_valid({"id": "x", "importance": "urgent"})
    assert not validator.is_valid({"id": "x", "receivedDateTime": "yesterday"})
    assert not validator.is_valid({"id": "x", "toRecipients": [{"emailAddress": {"adress": "a@b"}}]})
    assert validator.is_valid({"@odata.type": "#microsoft.graph.message", "id": "x", "@removed": {"reason": "deleted"}})
    assert not csdl.validator("event").is_valid({"id": "x", "start": {"timeZone": "UTC", "dateTime": 5}})
    assert not csdl.validator("dateTimeTimeZone").is_valid({"timeZone": "UTC", "dateTime": None})  # Nullable="false"
    assert not csdl.validator("attendee").is_valid({"type": "vip"})
    assert not csdl.validator("responseStatus").is_valid({"response": "maybe"})
    assert csdl.validator("location").is_valid({"displayName": "Room", "locationType": "conferenceRoom"})
    assert csdl.validator("itemBody").is_valid({"contentType": "html", "content": "<p>x</p>"})
    assert not csdl.validator("itemBody").is_valid({"contentType": "markdown"})
    assert csdl.validator("recipient").is_valid({"emailAddress": {"name": None, "address": "a@b"}})
    assert not csdl.validator("emailAddress").is_valid({"address": 1})
    assert not csdl.validator("subscription").is_valid({"id": "s", "changeType": None})


# -- everything the stand-in serves ---------------------------------------------------------------------------
def test_message_delta_pages_conform(ms, graph, csdl):
    seed_mail(ms)
    validator = csdl.validator("message")
    seen = 0
    for folder in ("inbox", "sentitems"):
        for select in ("", "?$select=subject,from,toRecipients,receivedDateTime,internetMessageHeaders,uniqueBody"):
            pages = delta_pages(graph, f"{ms.graph_url}me/mailFolders/{folder}/messages/delta{select}")
            for page in pages:
                assert set(page) <= {"@odata.context", "@odata.nextLink", "@odata.deltaLink", "value"}
                for item in page["value"]:
                    assert_valid(validator, item)
                    seen += 1
    assert seen >= 6


def test_incremental_delta_with_removed_items_conforms(ms, graph, csdl):
    seed_mail(ms)
    url = f"{ms.graph_url}me/mailFolders/inbox/messages/delta"
    delta_link = delta_pages(graph, url)[-1]["@odata.deltaLink"]
    doomed = ms.add_message(OWNER, from_="x@acme.example", to=[OWNER], subject="Gone soon")
    ms.add_message(OWNER, from_="y@acme.example", to=[OWNER], subject="Stays")
    ms.delete_message(OWNER, doomed)
    items = [item for page in delta_pages(graph, delta_link) for item in page["value"]]
    assert any("@removed" in item for item in items)
    for item in items:
        assert_valid(csdl.validator("message"), item)


def test_a_single_message_with_headers_conforms(ms, graph, csdl):
    message_id = ms.add_message(OWNER, from_="dana@acme.example", to=[OWNER], subject="Hi", body_text="Hello",
                                headers={"X-Mailer": "Outlook"}, in_reply_to="<root@acme.example>")
    full = graph.get(f"{ms.graph_url}me/messages/{message_id}", headers={"Prefer": 'IdType="ImmutableId"'})
    selected = graph.get(f"{ms.graph_url}me/messages/{message_id}?$select=internetMessageHeaders,subject",
                         headers={"Prefer": 'IdType="ImmutableId"'})
    for response in (full, selected):
        assert response.status_code == 200
        assert_valid(csdl.validator("message"), response.json())
    names = {h["name"] for h in selected.json()["internetMessageHeaders"]}
    assert {"Message-ID", "In-Reply-To", "X-Mailer"} <= names
    assert "internetMessageHeaders" not in full.json()
    assert full.json()["internetMessageId"].startswith("<")


def test_calendar_view_delta_conforms(ms, graph, csdl):
    now = datetime.now(timezone.utc)
    ms.add_event(OWNER, subject="Demo", start=now + timedelta(days=1), location="Room 4",
                 attendees=["Dana <dana@acme.example>", {"address": "cfo@acme.example", "type": "optional",
                                                         "response": "tentativelyAccepted"}],
                 body_html="<p>Agenda</p>", is_online_meeting=True, online_meeting_url="https://teams.example/x")
    removed = ms.add_event(OWNER, subject="Cancelled later", start=now + timedelta(days=2),
                           organizer="dana@acme.example")
    window = f"startDateTime={(now - timedelta(days=7)):%Y-%m-%dT%H:%M:%SZ}&endDateTime={(now + timedelta(days=30)):%Y-%m-%dT%H:%M:%SZ}"
    pages = delta_pages(graph, f"{ms.graph_url}me/calendarView/delta?{window}")
    ms.delete_event(OWNER, removed)
    pages += delta_pages(graph, pages[-1]["@odata.deltaLink"])
    items = [item for page in pages for item in page["value"]]
    assert len(items) >= 3 and any("@removed" in item for item in items)
    for item in items:
        assert_valid(csdl.validator("event"), item)


def test_subscriptions_and_me_conform(ms, graph, csdl):
    with NotificationReceiver() as receiver:
        created = graph.post(ms.graph_url + "subscriptions", json={
            "changeType": "created,updated", "notificationUrl": receiver.url, "resource": "/me/messages",
            "expirationDateTime": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(), "clientState": "k",
        })
    assert created.status_code == 201
    assert_valid(csdl.validator("subscription"), created.json())
    listed = graph.get(ms.graph_url + "subscriptions").json()["value"]
    for subscription in listed:
        assert_valid(csdl.validator("subscription"), subscription)
    me = graph.get(ms.graph_url + "me")
    assert_valid(csdl.validator("user"), me.json())


def test_error_answers_have_graphs_error_shape(ms, graph):
    validator = Draft202012Validator(_ERROR)
    session = requests.Session()
    session.trust_env = False
    unauthenticated = session.get(ms.graph_url + "me", verify=ms.ca_file)
    expired = session.get(ms.graph_url + "me", verify=ms.ca_file, headers={
        "Authorization": "Bearer " + ms.issue_access_token(scp="User.Read", upn=OWNER, expires_in=-60)})
    no_window = graph.get(ms.graph_url + "me/calendarView/delta")
    select_calendar = graph.get(ms.graph_url + "me/calendarView/delta?startDateTime=2026-01-01T00:00:00Z"
                                "&endDateTime=2026-02-01T00:00:00Z&$select=subject")
    bad_select = graph.get(ms.graph_url + "me/mailFolders/inbox/messages/delta?$select=subjekt")
    bad_filter = graph.get(ms.graph_url + "me/mailFolders/inbox/messages/delta?$filter=subject eq 'x'")
    missing = graph.get(ms.graph_url + "me/messages/AAMkNOPE")
    stale = graph.get(ms.graph_url + "me/mailFolders/inbox/messages/delta?$deltatoken=eyJxIjogIiJ9")
    ms.faults = FaultPlan()
    ms.faults.once("/me", status=429, retry_after=3)
    throttled = graph.get(ms.graph_url + "me")
    ms.faults = None
    answers = [unauthenticated, expired, no_window, select_calendar, bad_select, bad_filter, missing, stale, throttled]
    assert [r.status_code for r in answers] == [401, 401, 400, 400, 400, 400, 404, 410, 429]
    for response in answers:
        assert_valid(validator, response.json())
    assert unauthenticated.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert stale.headers["Location"].startswith(ms.graph_url + "me/mailFolders/inbox/messages/delta")
    assert throttled.headers["Retry-After"] == "3"


@pytest.fixture(scope="module")
def connector(ms: MicrosoftStandIn) -> GraphConnector:
    settings = Settings.from_env({}, env="test", **ms.settings_overrides())
    return GraphConnector(settings, lambda force_refresh=False: "not used: mapping only", {OWNER})


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=80)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=_text, body=_text, name=_text)
def test_any_text_round_trips_through_graph_json_and_the_connector(ms, graph, csdl, connector, subject, body, name):
    message_id = ms.add_message(OWNER, from_={"name": name, "address": "any@acme.example"}, to=[OWNER],
                                subject=subject, body_text=body)
    served = graph.get(f"{ms.graph_url}me/messages/{message_id}", headers={"Prefer": 'IdType="ImmutableId"'}).json()
    assert_valid(csdl.validator("message"), served)
    mail = connector.to_mail(served, "inbox")
    assert (mail.subject, mail.body_text, mail.sender.email) == (subject, body, "any@acme.example")
    assert mail.sender.name == (name or "any@acme.example")


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(html=st.one_of(_text, st.lists(st.sampled_from(["<p>", "</p>", "<b>", "<!-- c -->", "&amp;", "<br>", "<",
                                                       "text", " ", "<script>x</script>", "é"]),
                                      max_size=12).map("".join)))
def test_any_html_body_is_served_valid_and_kept_for_display(ms, graph, csdl, connector, html):
    message_id = ms.add_message(OWNER, from_="any@acme.example", to=[OWNER], subject="html", body_html=html)
    served = graph.get(f"{ms.graph_url}me/messages/{message_id}", headers={"Prefer": 'IdType="ImmutableId"'}).json()
    assert_valid(csdl.validator("message"), served)
    mail = connector.to_mail(served, "inbox")
    assert mail.body_html == html and isinstance(mail.body_text, str)
