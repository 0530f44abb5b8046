"""Card JSON for the Gmail add-on (Google Workspace add-ons, HTTP runtime), built from the sidebar's context.

The cards offer what the Outlook pane offers: the deal (stage, amount, close date, next step), exit questions,
the contact's buying role, the email's tone with its sentences, rating, notes, private thread, timeline, alerts,
choosing among candidate deals and creating one. Card text fields accept a little HTML, so every piece of email
or deal content is escaped. Buttons carry only a signed `state` parameter (see `gmail_addon.py`).
"""

from __future__ import annotations

import html
from datetime import date, datetime, timezone
from typing import Any, Callable

from ..domain.tone_labels import LABELS
from ..domain.tone_reading import LABEL_NAMES

ROLE_NAMES = {
    "economic_buyer": "Economic buyer", "champion": "Champion", "technical_evaluator": "Technical evaluator",
    "decision_maker": "Decision maker", "influencer": "Influencer", "blocker": "Blocker", "procurement": "Procurement",
    "legal": "Legal", "user": "User",
}
#: Makes a button's onClick for an action (name + signed state); supplied by the blueprint.
ActionFactory = Callable[[str, dict[str, Any]], dict[str, Any]]


def text(value: Any) -> str:
    """Escape content for a card text field (which renders a subset of HTML)."""
    return html.escape(str(value if value is not None else ""), quote=True)


def paragraph(value: str) -> dict[str, Any]:
    """A textParagraph widget with already escaped text."""
    return {"textParagraph": {"text": value}}


def decorated(top: str, value: str, bottom: str = "") -> dict[str, Any]:
    """A decoratedText widget (values escaped here)."""
    widget: dict[str, Any] = {"topLabel": text(top), "text": text(value), "wrapText": True}
    if bottom:
        widget["bottomLabel"] = text(bottom)
    return {"decoratedText": widget}


def dropdown(name: str, label: str, options: list[tuple[str, str]], selected: str | None) -> dict[str, Any]:
    """A dropdown selectionInput."""
    return {"selectionInput": {"name": name, "label": label, "type": "DROPDOWN", "items": [
        {"text": text(title), "value": value, "selected": value == selected} for value, title in options]}}


def text_input(name: str, label: str, value: str = "", multiline: bool = False) -> dict[str, Any]:
    """A textInput widget."""
    widget: dict[str, Any] = {"name": name, "label": label, "value": value}
    if multiline:
        widget["type"] = "MULTIPLE_LINE"
    return {"textInput": widget}


def date_input(name: str, label: str, value: str | None) -> dict[str, Any]:
    """A date-only picker (value: ISO date or None)."""
    widget: dict[str, Any] = {"name": name, "label": label, "type": "DATE_ONLY"}
    if value:
        day = date.fromisoformat(value)
        widget["valueMsEpoch"] = str(int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000))
    return {"dateTimePicker": widget}


def buttons(*items: dict[str, Any]) -> dict[str, Any]:
    """A buttonList widget."""
    return {"buttonList": {"buttons": list(items)}}


def button(label: str, on_click: dict[str, Any], filled: bool = False) -> dict[str, Any]:
    """A text button."""
    widget: dict[str, Any] = {"text": label, "onClick": on_click}
    if filled:
        widget["type"] = "FILLED"
    return widget


def message_card(title: str, detail: str) -> dict[str, Any]:
    """A card that only says something (errors, empty states)."""
    return {"header": {"title": text(title)}, "sections": [{"widgets": [paragraph(text(detail))]}]}


def homepage_card(name: str, deals: list[dict[str, Any]]) -> dict[str, Any]:
    """The add-on's home: a hint and the user's open deals with their alert counts."""
    widgets: list[dict[str, Any]] = [paragraph("Open an email to see the deal it belongs to, its tone and timeline.")]
    for deal in deals:
        bottom = f"{deal['alerts']} open alert(s)" if deal["alerts"] else ""
        widgets.append(decorated(deal["stage"], deal["name"], bottom))
    if not deals:
        widgets.append(paragraph("You have no open deals."))
    return {"header": {"title": "DealPulse", "subtitle": text(name)}, "sections": [{"widgets": widgets}]}


def _money(amount: str, currency: str) -> str:
    try:
        return f"{float(amount):,.0f} {currency}"
    except ValueError:
        return f"{amount} {currency}"


def _deal_sections(c: dict[str, Any], act: ActionFactory) -> list[dict[str, Any]]:
    opp = c["opportunity"]
    stages = [(s["key"], s["name"]) for s in c["stages"]]
    deal = {"header": text(opp["name"]), "widgets": [
        decorated("Deal", f"{_money(opp['amount'], opp['currency'])} · {opp['owner']['name'] if opp['owner'] else ''}",
                  f"version {opp['version']}"),
        dropdown("stage", "Stage", stages, opp["stage"]["key"]),
        text_input("amount", f"Amount ({opp['currency']})", opp["amount"]),
        date_input("close_date", "Close date", opp["close_date"]),
        text_input("next_step", "Next step", opp["next_step"]),
        buttons(button("Save deal", act("save_deal", {"o": opp["id"], "v": opp["version"]}), filled=True)),
    ]}
    sections = [deal]
    if opp.get("exit_questions"):
        answers = [("", "Not answered"), ("yes", "Yes"), ("no", "No")]
        widgets = [
            dropdown(f"exit_{q['key']}", q["text"], answers,
                     "yes" if q["answer"] is True else "no" if q["answer"] is False else "")
            for q in opp["exit_questions"]
        ]
        keys = [q["key"] for q in opp["exit_questions"]]
        widgets.append(buttons(button("Save answers", act("save_answers", {"o": opp["id"], "v": opp["version"], "k": keys}))))
        sections.append({"header": text(f"Exit questions: {opp['stage']['name']}"), "collapsible": True,
                         "uncollapsibleWidgetsCount": len(widgets), "widgets": widgets})
    sections.append(_team_section(c, act))
    sections.append(_relink_section(c, act, "Wrong deal?"))
    contact = c.get("contact")
    if contact:
        member = next((m for m in opp.get("buying_team") or [] if m["contact_id"] == contact["id"]), None)
        roles = [("", "Not on the buying team")] + [(r, ROLE_NAMES.get(r, r)) for r in c["buying_roles"]]
        sections.append({"header": text(f"{contact['name'] or contact['email']}'s role"), "widgets": [
            dropdown("role", "Role on the buying team", roles, member["role"] if member else ""),
            buttons(button("Save role", act("save_role", {"o": opp["id"], "v": opp["version"], "c": contact["id"]}))),
        ]})
    return sections


def _team_section(c: dict[str, Any], act: ActionFactory) -> dict[str, Any]:
    """The deal's buying team (role, last engaged) and adding one of the email's people, or any address."""
    opp = c["opportunity"]
    team = opp.get("buying_team") or []
    widgets: list[dict[str, Any]] = [
        decorated(ROLE_NAMES.get(m["role"], m["role"]), m["name"] or m["email"],
                  f"last engaged {m['last_engaged_at'][:10]}" if m.get("last_engaged_at") else "not engaged yet")
        for m in team
    ] or [paragraph("Nobody on the buying team yet.")]
    on_team = {m["email"] for m in team}
    people = [(p["email"], p["name"] or p["email"]) for p in c.get("participants") or [] if p["email"] not in on_team]
    if people:
        widgets.append(dropdown("member_email", "Someone on this email", people, people[0][0]))
    widgets.append(text_input("member_address", "…or an email address"))
    widgets.append(dropdown("member_role", "Role", [(r, ROLE_NAMES.get(r, r)) for r in c["buying_roles"]], c["buying_roles"][0]))
    widgets.append(buttons(button("Add to the buying team", act("add_member", {"o": opp["id"], "v": opp["version"]}))))
    return {"header": "Buying team", "collapsible": True, "uncollapsibleWidgetsCount": max(1, len(team)), "widgets": widgets}


def _relink_section(c: dict[str, Any], act: ActionFactory, header: str) -> dict[str, Any]:
    """Move the rep's own copies of this conversation to another deal, or mark it not a deal."""
    options = [(str(o["id"]), f"{o['name']} · {o['stage']['name']}") for o in c.get("deal_options") or []]
    options.append(("none", "Not a deal"))
    return {"header": header, "collapsible": True, "uncollapsibleWidgetsCount": 0, "widgets": [
        paragraph("Moves your emails of this conversation; later mail follows. Colleagues' copies stay where they are."),
        dropdown("move_to", "Change deal", options, options[0][0]),
        buttons(button("Move this conversation", act("relink", {"t": c["thread_key"]}))),
    ]}


def _tone_section(c: dict[str, Any], act: ActionFactory) -> dict[str, Any]:
    email = c["email"]
    tone = email["tone"]
    widgets: list[dict[str, Any]] = []
    if tone is None:
        if email["content_hidden"]:
            widgets.append(paragraph("Private email: its tone is visible to the reps who received it."))
        elif email.get("tone_pending"):
            widgets.append(paragraph("The tone model is still being prepared; reopen this email in a few minutes."))
        else:
            widgets.append(paragraph("No text to score in this email."))
    else:
        how = f"model {tone['model_version']}" if tone["stored"] else "scored just now, not stored"
        reading = tone["reading"]
        widgets.append(decorated("Tone of this email", reading["wording"], f"{reading['confidence']:.0%} confidence · {how}"))
        for highlight in tone.get("highlights") or []:
            widgets.append(paragraph("<i>" + text(highlight["text"]) + "</i>"))
    if email.get("not_ratable_reason"):
        widgets.append(paragraph(text(email["not_ratable_reason"])))
    if email["captured"] and not email["content_hidden"]:
        if email.get("ratable"):
            mine = (email.get("my_rating") or {}).get("label")
            widgets.append(text_input("rating_note", "Note on your rating (optional)", (email.get("my_rating") or {}).get("note", "")))
            widgets.append(buttons(*[
                button(("✓ " if mine == label else "") + LABEL_NAMES[label], act("rate", {"a": email["id"], "l": label}))
                for label in LABELS
            ]))
        if email["is_mine"]:
            private = bool(c["thread_private"] or email["is_private"])
            widgets.append(buttons(button("Make thread public" if private else "Mark thread private",
                                          act("private", {"t": c["thread_key"], "p": not private}))))
    elif not email["captured"] and not email.get("not_ratable_reason"):
        widgets.append(paragraph("You can rate this email once DealPulse has captured it (usually within a minute)."))
    return {"header": "Tone", "widgets": widgets}


def _notes_section(c: dict[str, Any], act: ActionFactory) -> dict[str, Any] | None:
    email = c["email"]
    if not email["captured"] or email["content_hidden"]:
        return None
    widgets = [decorated(n["author"]["name"] if n["author"] else "", n["text"]) for n in email["notes"]]
    widgets.append(text_input("note_text", "Add a note", multiline=True))
    widgets.append(buttons(button("Add note", act("add_note", {"a": email["id"]}))))
    return {"header": "Notes", "collapsible": True, "uncollapsibleWidgetsCount": 2, "widgets": widgets}


def _timeline_section(c: dict[str, Any]) -> dict[str, Any]:
    t = c["timeline"]
    trend = " → ".join(f"{p['score']:+.1f}" for p in t["tone_trend"]) or "no scored inbound email yet"
    widgets = [
        decorated("Emails", f"{t['inbound']} in · {t['outbound']} out · {t['meetings']} meetings",
                  f"last inbound {t['last_inbound_at'][:10] if t['last_inbound_at'] else 'never'}"),
        decorated("Tone trend (oldest first)", trend),
    ]
    for item in t["recent"][:5]:
        arrow = "←" if item["direction"] == "inbound" else "→"
        widgets.append(decorated(f"{arrow} {item['occurred_at'][:10]}", item["subject"] or "(no subject)",
                                 LABEL_NAMES.get(item["tone"] or "", "")))
    return {"header": "Deal timeline", "collapsible": True, "uncollapsibleWidgetsCount": 2, "widgets": widgets}


def _chooser_section(c: dict[str, Any], act: ActionFactory) -> dict[str, Any]:
    widgets: list[dict[str, Any]] = [paragraph("Several open deals match. Your choice is remembered for the conversation.")]
    for candidate in c["candidates"]:
        account = candidate["account"]["name"] if candidate["account"] else ""
        widgets.append(decorated(f"{account} · {candidate['stage']['name']}", candidate["name"],
                                 _money(candidate["amount"], candidate["currency"])))
        widgets.append(buttons(button("This deal", act("link", {"t": c["thread_key"], "o": candidate["id"]}))))
    widgets.append(buttons(button("Not a deal", act("link", {"t": c["thread_key"], "o": None}))))
    return {"header": "Which deal is this email about?", "widgets": widgets}


def _create_section(c: dict[str, Any], act: ActionFactory, subject: str) -> dict[str, Any]:
    account = c["account"]
    stages = [(s["key"], s["name"]) for s in c["stages"] if not s["is_closed"]]
    contact_id = c["contact"]["id"] if c.get("contact") else None
    return {"header": "No open deal for this email", "widgets": [
        paragraph(text(f"Create one for {account['name']}:")),
        text_input("new_name", "Deal name", f"{account['name']} — {subject}"[:200]),
        dropdown("new_stage", "Stage", stages, stages[0][0] if stages else None),
        text_input("new_amount", "Amount", "0"),
        buttons(button("Create deal", act("create", {"t": c["thread_key"], "acc": account["id"], "c": contact_id}),
                       filled=True)),
    ]}


def context_card(c: dict[str, Any], act: ActionFactory, subject: str = "", notice: str = "") -> dict[str, Any]:
    """The card for an open email, from `services.sidebar.email_context`."""
    sections: list[dict[str, Any]] = []
    banners = [notice] if notice else []
    for box in c.get("mailboxes") or []:
        if box["state"] in ("needs_reconnect", "disconnected", "provider_error"):
            banners.append(f"Your mailbox {box['address']} is disconnected from DealPulse; new emails are not captured.")
    if c["thread_private"] or c["email"]["is_private"]:
        banners.append("Private thread: managers see only that it exists.")
    for alert in c["alerts"]:
        banners.append(("Alert: " if alert["severity"] == "critical" else "Warning: ") + alert["reason"])
    if banners:
        sections.append({"widgets": [paragraph("<b>" + text(b) + "</b>") for b in banners]})
    if c["status"] == "matched":
        sections.extend(_deal_sections(c, act))
    elif c["status"] == "choose":
        sections.append(_chooser_section(c, act))
    elif c["status"] == "not_a_deal":
        sections.append({"widgets": [paragraph("You marked this conversation as not a deal: it counts toward none.")]})
        sections.append(_relink_section(c, act, "Link it to a deal after all"))
    elif c["status"] == "no_deal" and c["account"]:
        sections.append(_create_section(c, act, subject))
    else:
        sections.append({"widgets": [paragraph("No known customer in this email: it is not linked to a deal.")]})
    sections.append(_tone_section(c, act))
    notes = _notes_section(c, act)
    if notes:
        sections.append(notes)
    if c["timeline"]:
        sections.append(_timeline_section(c))
    who = [c["contact"]["name"] if c.get("contact") else "", c["account"]["name"] if c.get("account") else ""]
    header = {"title": text(c["opportunity"]["name"]) if c["opportunity"] else "DealPulse",
              "subtitle": text(" · ".join(w for w in who if w) or "Unknown sender")}
    return {"header": header, "sections": sections}


def push_card(card: dict[str, Any]) -> dict[str, Any]:
    """The response to a trigger: show `card`."""
    return {"action": {"navigations": [{"pushCard": card}]}}


def update_card(card: dict[str, Any], notification: str = "") -> dict[str, Any]:
    """The response to a button: replace the current card (with an optional toast)."""
    action: dict[str, Any] = {"navigations": [{"updateCard": card}]}
    if notification:
        action["notification"] = {"text": notification}
    return {"renderActions": {"action": action}}
