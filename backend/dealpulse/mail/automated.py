"""Mail no person wrote: out-of-office notes, delivery and read receipts, auto-acknowledgements, mailing lists.

Such mail is stored like any other but is never contact from the buyer: it does not reset "gone dark", enter the
tone trend or count as an engaged contact. Detection uses the standard headers (RFC 3834 `Auto-Submitted`,
`X-Autoreply`/`X-Autorespond`, `Precedence`, RFC 2919 `List-Id`, RFC 6522 `multipart/report`) and, where a
provider gives no headers, the subject, the sender and explicit statements in the text.
"""

from __future__ import annotations

import re
from typing import Mapping

OUT_OF_OFFICE = "out_of_office"
DELIVERY_RECEIPT = "delivery_receipt"
AUTO_REPLY = "auto_reply"
MAILING_LIST = "mailing_list"

#: Headers the classifier reads (lower-case); connectors keep only these.
AUTOMATION_HEADERS = ("auto-submitted", "x-autoreply", "x-autorespond", "precedence", "list-id", "content-type")

_OOF_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|out of (the )?office|abwesenheitsnotiz|automatische antwort"
    r"|r[ée]ponse automatique|absence du bureau|respuesta autom[áa]tica|fuera de la oficina|risposta automatica"
    r"|automatisch antwoord)",
    re.IGNORECASE,
)
_RECEIPT_SUBJECT = re.compile(
    r"^\s*(undeliverable|undelivered mail|delivery status notification|delivery failure|delivery has failed"
    r"|mail delivery failed|mail delivery failure|returned mail|failure notice|message not delivered"
    r"|unzustellbar|non remis|no se puede entregar|read:|gelesen:|lu\s*:|delivered:|read receipt|return receipt)",
    re.IGNORECASE,
)
_RECEIPT_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounces?)([+.-].*)?@", re.IGNORECASE)
_NO_REPLY_SENDER = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|auto[-_.]?(reply|confirm|responder))([+.-].*)?@",
                              re.IGNORECASE)
_AUTOMATED_TEXT = re.compile(
    r"\b(this is an? automat(ed|ic) (reply|response|message|acknowledge?ment|notification|e-?mail)"
    r"|this (message|e-?mail) (was|has been) (sent|generated) automatically"
    r"|(please )?do not reply (to|directly to) this (message|e-?mail))",
    re.IGNORECASE,
)
_TEXT_WINDOW = 600  # automated notices say what they are at the top


def automated_kind(headers: Mapping[str, str] | None, sender: str, subject: str, text: str) -> str:
    """Why a mail is automated ("" when a person wrote it): out_of_office, delivery_receipt, auto_reply or mailing_list.

    `headers` maps lower-case names (see AUTOMATION_HEADERS) to values; missing headers are fine.
    """
    h = {k.lower(): (v or "").strip().lower() for k, v in (headers or {}).items()}
    subject = subject or ""
    oof_subject = bool(_OOF_SUBJECT.match(subject))
    content_type = h.get("content-type", "")
    if content_type.startswith("multipart/report") or _RECEIPT_SENDER.match(sender or "") or _RECEIPT_SUBJECT.match(subject):
        return DELIVERY_RECEIPT
    auto_submitted = h.get("auto-submitted", "")
    flagged = (auto_submitted not in ("", "no") or h.get("x-autoreply", "") not in ("", "no")
               or h.get("x-autorespond", "") not in ("", "no"))
    precedence = h.get("precedence", "")
    if flagged or precedence == "auto_reply":
        return OUT_OF_OFFICE if oof_subject or "vacation" in auto_submitted else AUTO_REPLY
    if precedence in ("bulk", "list", "junk") or h.get("list-id"):
        return MAILING_LIST
    if oof_subject:
        return OUT_OF_OFFICE
    if _NO_REPLY_SENDER.match(sender or "") or _AUTOMATED_TEXT.search((text or "")[:_TEXT_WINDOW]):
        return AUTO_REPLY
    return ""
