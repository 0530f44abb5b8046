"""Who writes the demo mail: names, titles, phones, mail clients and time zones of everyone in it."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from datetime import timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any

from dealpulse.demo.orgdata import load_org

STYLE_RESOURCE = "data/mail_style.toml"
CLIENTS = {"gmail", "outlook", "outlook_classic", "outlook_de", "iphone", "newsletter"}


@dataclass(frozen=True)
class Person:
    """One address in the demo mail and how that person's mail looks."""

    email: str
    name: str
    title: str = ""
    company: str = ""
    phone: str = ""
    client: str = "gmail"  # which mail program shapes their replies (quote style, HTML, signature)
    utc_offset: float = 0.0  # hours; the Date header is written in the sender's local time
    disclaimer: str = ""

    def tz(self) -> timezone:
        """The fixed-offset time zone their clock shows."""
        return timezone(timedelta(hours=self.utc_offset))

    def signature(self) -> str:
        """The signature block their mail program appends ("" for none)."""
        if self.client in {"iphone", "newsletter"} or not self.title:
            return ""
        if self.client == "gmail":
            lines = [self.name, f"{self.title} | {self.company}"] + ([self.phone] if self.phone else [])
        else:
            phone_label = "Tel.: " if self.client == "outlook_de" else "T: "
            lines = [self.name, self.title, self.company] + ([phone_label + self.phone] if self.phone else [])
        return "\n".join(lines)


def _phone(prefix: str, email: str) -> str:
    digits = int(hashlib.sha256(email.encode()).hexdigest()[:8], 16) % 100
    return f"{prefix}{digits:02d}" if prefix else ""


@cache
def _style() -> dict[str, Any]:
    text = resources.files("dealpulse.demo").joinpath(STYLE_RESOURCE).read_text(encoding="utf-8")
    return tomllib.loads(text)


class Directory:
    """Every person the demo mail mentions, looked up by address (case-insensitive)."""

    def __init__(self, extra: dict[str, dict[str, Any]] | None = None):
        org = load_org()
        style = _style()
        self._people: dict[str, Person] = {}
        seller = org["organisation"]["name"]
        seller_style = style["seller"]
        for user in org["users"]:
            own = style["users"].get(user["email"], {})
            person = Person(
                email=user["email"],
                name=user["name"],
                title=seller_style["titles"][user["role"]],
                company=seller,
                phone=_phone(own.get("phone_prefix", seller_style["phone_prefix"]), user["email"]),
                client=seller_style["client"],
                utc_offset=own.get("utc_offset", seller_style["utc_offset"]),
            )
            for address in [user["email"], *user["aliases"]]:
                self._people[address] = person
        accounts = {a["key"]: a for a in org["accounts"]}
        for contact in org["contacts"]:
            account_style = style["accounts"][contact["account"]]
            override = style.get("contacts", {}).get(contact["email"], {})
            self._people[contact["email"]] = Person(
                email=contact["email"],
                name=contact["name"],
                title=contact["title"],
                company=accounts[contact["account"]]["name"],
                phone=_phone(account_style["phone_prefix"], contact["email"]),
                client=override.get("client", account_style["client"]),
                utc_offset=account_style["utc_offset"],
                disclaimer=account_style.get("disclaimer", "").strip(),
            )
        for email, fields in (extra or {}).items():
            self._people[email.lower()] = Person(email=email.lower(), **fields)
        bad = {p.email: p.client for p in self._people.values() if p.client not in CLIENTS}
        if bad:
            raise ValueError(f"unknown mail client for {bad}; expected one of {sorted(CLIENTS)}")

    def __getitem__(self, email: str) -> Person:
        try:
            return self._people[email.lower()]
        except KeyError:
            raise KeyError(f"{email} is neither in org.json nor in the thread file's [people]") from None

    def __contains__(self, email: str) -> bool:
        return email.lower() in self._people

    def mailbox_of(self, email: str) -> str:
        """The primary address of the person who owns `email` (an alias resolves to its user)."""
        return self[email].email

    def display(self, email: str) -> str:
        """`Name <address>` as it appears in headers and quote lines, keeping the address used."""
        return f"{self[email].name} <{email.lower()}>"
