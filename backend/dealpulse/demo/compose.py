"""Email bodies as real mail programs write them: signatures, disclaimers, quoted history, HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape as _escape

from dealpulse.demo.people import Person

GERMAN_DAYS = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
GERMAN_MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                 "November", "Dezember"]
GMAIL_BLOCKQUOTE = '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
OUTLOOK_CLIENTS = {"outlook", "outlook_classic", "outlook_de"}


def escape(text: str) -> str:
    """HTML-escape text the way mail editors do (quotes stay as they are)."""
    return _escape(text, quote=False)


@dataclass(frozen=True)
class Quoted:
    """The earlier message a reply quotes or a forward carries."""

    sender: str  # `Name <address>`
    to: list[str]
    cc: list[str]
    subject: str
    sent_at: datetime
    text: str
    html: str  # inner HTML (no <html>/<body> wrapper)


@dataclass(frozen=True)
class Body:
    """A message's complete plain-text and inner-HTML bodies."""

    text: str
    html: str


def subject_prefix(client: str, forward: bool) -> str:
    """The reply or forward prefix the sender's mail program puts on the subject."""
    if client == "outlook_de":
        return "WG: " if forward else "AW: "
    if client in OUTLOOK_CLIENTS:
        return "FW: " if forward else "RE: "
    return "Fwd: " if forward else "Re: "


def text_to_html(text: str) -> str:
    """Paragraphs of escaped text as the <div>/<br> markup mail editors produce."""
    blocks = [block for block in text.split("\n\n") if block.strip()]
    return "".join(
        "<div>" + "<br>".join(escape(line) for line in block.split("\n")) + "</div><div><br></div>" for block in blocks
    )


def _lines_html(text: str) -> str:
    return "<br>".join(escape(line) for line in text.split("\n"))


def _gmail_when(moment: datetime) -> str:
    return f"{moment:%a}, {moment.day} {moment:%b %Y} at {moment:%H:%M}"


def _outlook_when(moment: datetime, german: bool) -> str:
    if german:
        return f"{GERMAN_DAYS[moment.weekday()]}, {moment.day}. {GERMAN_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M}"
    hour = moment.hour % 12 or 12
    return f"{moment:%A}, {moment:%B} {moment.day}, {moment.year} {hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def _outlook_header(quoted: Quoted, when: datetime, client: str) -> list[tuple[str, str]]:
    german = client == "outlook_de"
    names = ("Von", "Gesendet", "An", "Cc", "Betreff") if german else ("From", "Sent", "To", "Cc", "Subject")
    rows = [(names[0], quoted.sender), (names[1], _outlook_when(when, german)), (names[2], "; ".join(quoted.to))]
    if quoted.cc:
        rows.append((names[3], "; ".join(quoted.cc)))
    rows.append((names[4], quoted.subject))
    return rows


def _quote_text(writer: Person, quoted: Quoted, forward: bool) -> str:
    when = quoted.sent_at.astimezone(writer.tz())
    if writer.client in OUTLOOK_CLIENTS:
        rows = "\n".join(f"{name}: {value}" for name, value in _outlook_header(quoted, when, writer.client))
        rule = "-----Original Message-----" if writer.client == "outlook_classic" else "_" * 32
        return f"{rule}\n{rows}\n\n{quoted.text}"
    if forward:
        rows = [f"From: {quoted.sender}", f"Date: {_gmail_when(when)}", f"Subject: {quoted.subject}",
                f"To: {', '.join(quoted.to)}"] + ([f"Cc: {', '.join(quoted.cc)}"] if quoted.cc else [])
        return "---------- Forwarded message ---------\n" + "\n".join(rows) + f"\n\n\n{quoted.text}"
    if writer.client == "iphone":
        attribution = f"On {when.day} {when:%b %Y}, at {when:%H:%M}, {quoted.sender} wrote:"
        return "\n".join("> " + line if line else ">" for line in [attribution, "", *quoted.text.split("\n")])
    attribution = f"On {_gmail_when(when)}, {quoted.sender} wrote:"
    return attribution + "\n" + "\n".join("> " + line if line else ">" for line in quoted.text.split("\n"))


def _quote_html(writer: Person, quoted: Quoted, forward: bool) -> str:
    when = quoted.sent_at.astimezone(writer.tz())
    if writer.client in OUTLOOK_CLIENTS:
        rows = "<br>".join(f"<b>{name}:</b> {escape(value)}" for name, value in _outlook_header(quoted, when, writer.client))
        return ('<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
                '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000">'
                f'{rows}</font><div>&nbsp;</div></div><div>{quoted.html}</div>')
    if forward:
        rows = (f'From: <strong class="gmail_sendername" dir="auto">{escape(quoted.sender)}</strong><br>'
                f"Date: {_gmail_when(when)}<br>Subject: {escape(quoted.subject)}<br>To: {escape(', '.join(quoted.to))}<br>")
        return (f'<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>'
                f"{rows}</div><br><br>{quoted.html}</div>")
    attribution = escape(f"On {_gmail_when(when)}, {quoted.sender} wrote:")
    return (f'<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">{attribution}<br></div>'
            f"{GMAIL_BLOCKQUOTE}{quoted.html}</blockquote></div>")


def compose(writer: Person, new_text: str, quoted: Quoted | None, forward: bool = False, signed: bool = True) -> Body:
    """The full body of a message: new text, signature, disclaimer, then the quoted or forwarded message."""
    new_text = new_text.strip("\n")
    signature = writer.signature() if signed else ""
    text_parts = [new_text]
    html = text_to_html(new_text)
    if writer.client == "newsletter":
        html = (f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">'
                f'<table role="presentation" width="600" style="font-family:Helvetica,Arial,sans-serif">'
                f'<tr><td style="padding:24px;font-size:15px;line-height:22px">{html}</td></tr>'
                f'<tr><td style="padding:12px 24px;font-size:11px;color:#888">You are receiving this email because you '
                f'signed up at {escape(writer.company)}. <a href="https://{writer.email.split("@")[1]}/unsubscribe">'
                f"Unsubscribe</a> | <a href=\"https://{writer.email.split('@')[1]}/preferences\">Email preferences</a>"
                f"</td></tr></table></td></tr></table>")
    elif writer.client == "iphone":
        text_parts.append("Sent from my iPhone")
    elif signature and writer.client in OUTLOOK_CLIENTS:
        text_parts.append(signature)
        html = (f'<div class="elementToProof" style="font-family:Aptos,Calibri,Helvetica,sans-serif;font-size:12pt">{html}</div>'
                f'<div id="Signature"><p>{_lines_html(signature)}</p></div>')
    elif signature:
        text_parts.append("-- \n" + signature)
        html = (f'<div dir="ltr">{html}<br clear="all"><div><br></div><span class="gmail_signature_prefix">-- </span><br>'
                f'<div dir="ltr" class="gmail_signature">{_lines_html(signature)}</div></div>')
    else:
        html = f'<div dir="ltr">{html}</div>'
    if writer.disclaimer:
        text_parts.append(writer.disclaimer)
        html += f'<p style="font-size:8pt;color:#808080">{_lines_html(writer.disclaimer)}</p>'
    if quoted is not None:
        text_parts.append(_quote_text(writer, quoted, forward))
        html += _quote_html(writer, quoted, forward)
    return Body("\n\n".join(text_parts) + "\n", html)
