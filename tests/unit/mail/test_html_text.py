"""Email HTML: inert when shown in the sidebar, and readable text with quoted history marked for split_reply."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse.mail.html_text import html_to_text, sanitize_email_html
from dealpulse.mail.reply_split import split_reply

GMAIL_REPLY = """<div dir="ltr">Hi Sarah,<div><br></div><div>Thanks &amp; see you on <b>Tuesday</b>.</div>
<ul><li>order form</li><li>DPA</li></ul></div><br>
<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Mon, Nov 2, 2026 at 10:14 AM
Sarah Lee &lt;sarah@dealvendor.com&gt; wrote:<br></div>
<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Can we meet?<br>Sarah
<blockquote>older history</blockquote></blockquote></div>"""

OUTLOOK_WEB_REPLY = """<div>We will not renew.</div><div>Jane</div><hr style="display:inline-block;width:98%">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Bob &lt;bob@dealvendor.com&gt;<br>
<b>Sent:</b> Monday, November 2, 2026 10:00<br><b>Subject:</b> Renewal</font><div>&nbsp;</div></div>
<div>Hi Jane, the renewal is due.</div>"""


def test_paragraphs_line_breaks_and_list_items():
    assert html_to_text("<p>One</p><p>Two<br>Three</p><ul><li>a</li><li>b</li></ul>") == "One\n\nTwo\nThree\n\n- a\n- b"


def test_gmail_quote_becomes_quoted_text_that_split_reply_separates():
    text = html_to_text(GMAIL_REPLY)
    assert text.startswith("Hi Sarah,\n\nThanks & see you on Tuesday.\n\n- order form\n- DPA")
    assert "> On Mon, Nov 2, 2026 at 10:14 AM Sarah Lee <sarah@dealvendor.com> wrote:" in text
    assert ">> Can we meet?" in text and ">>> older history" in text
    assert split_reply(text).new_text == "Hi Sarah,\n\nThanks & see you on Tuesday.\n\n- order form\n- DPA"


def test_outlook_reply_header_quotes_everything_after_it():
    text = html_to_text(OUTLOOK_WEB_REPLY)
    assert text.splitlines()[:2] == ["We will not renew.", "Jane"]
    assert "> From: Bob <bob@dealvendor.com>" in text
    assert "> Hi Jane, the renewal is due." in text
    assert split_reply(text).new_text == "We will not renew."


@pytest.mark.parametrize(
    "header",
    [
        '<div class="OutlookMessageHeader">',
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">',
        '<div id="OLK_SRC_BODY_SECTION">',
        '<div style="border-top: 1pt solid rgb(225, 225, 225); padding: 3pt 0in 0in">',
    ],
)
def test_other_outlook_header_blocks(header):
    text = html_to_text(f"<p>Fine by us.</p>{header}<p><b>From:</b> A<br><b>Sent:</b> B</p></div><p>Old text</p>")
    assert text.splitlines()[0] == "Fine by us."
    assert "> Old text" in text


def test_hidden_content_entities_images_and_preformatted_text():
    html = (
        "<html><head><title>T</title><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><p>Price:&nbsp;12&euro;</p><img src='https://track.example/p.gif' alt='Acme logo'>"
        "<pre>  indented\n    code</pre></body></html>"
    )
    assert html_to_text(html) == "Price: 12€\n\n[Acme logo]\n\n  indented\n    code"


def test_hostile_markup_does_not_crash_or_lose_text():
    assert html_to_text("<div>" * 10_000 + "deep" + "</div>" * 10_000 + "after") == "deep\nafter"
    assert html_to_text('<p title="' + "x" * 1_000_000 + '">big attribute</p>') == "big attribute"
    assert html_to_text("<p>unclosed <b>bold <i>italic <blockquote>quote") == "unclosed bold italic\n> quote"
    assert html_to_text("</div></blockquote></p>stray ends<br/>") == "stray ends"
    assert html_to_text("<blockquote>" * 5_000 + "q").endswith("q")
    assert html_to_text('<div style="' + "border-top:solid " * 50_000 + '">styled</div>') == "styled"


_HTMLISH = st.lists(
    st.one_of(
        st.sampled_from(
            ["<div>", "</div>", "<p>", "</p>", "<br>", "<blockquote>", "</blockquote>", "<li>", "<pre>", "</pre>",
             '<div class="gmail_quote">', '<div id="divRplyFwdMsg">', "<script>", "</script>", "<style>", "<!--",
             "-->", "&amp;", "&#0;", "&#x110000;", "<", ">", '"', "<img alt='x'>", "<table><tr><td>", "</td></tr>"]
        ),
        st.text(max_size=20),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_HTMLISH)
def test_html_to_text_never_crashes(html):
    assert isinstance(html_to_text(html), str)


# -- sanitiser ------------------------------------------------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt&colon;alert(1)">click</a>',
    "<svg onload=alert(1)><circle r=1></circle></svg>",
    '<div style="width: expression(alert(1))">x</div>',
    '<p style="background:url(https://tracker.example/beacon.gif)">x</p>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><input name=p><button>go</button></form>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">d</a>',
    '<img src="data:image/png;base64,iVBORw0KGgo=">',
    '<body onload="alert(1)">b</body>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
]
_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_are_inert(payload):
    clean = sanitize_email_html(payload).lower()
    assert "<script" not in clean and "<svg" not in clean and "<iframe" not in clean and "<form" not in clean
    assert not _HANDLER.search(clean)
    assert "javascript:" not in clean and "data:" not in clean and "expression(" not in clean
    assert "style=" not in clean and "src=" not in clean
    assert "<meta" not in clean and "<base" not in clean and "<link" not in clean


def test_remote_images_do_not_load_but_keep_alt_text():
    clean = sanitize_email_html('<img src="https://tracker.example/open.gif?u=42" alt="Company logo" width="1">')
    assert "tracker.example" not in clean
    assert 'alt="Company logo"' in clean


def test_formatting_and_safe_links_survive_with_rel():
    clean = sanitize_email_html('<p>Hi <b>Tom</b>,</p><a href="https://acme.example/q">quote</a><ul><li>x</li></ul>')
    assert "<p>Hi <b>Tom</b>,</p>" in clean and "<ul><li>x</li></ul>" in clean
    assert '<a href="https://acme.example/q" rel="noopener noreferrer nofollow">quote</a>' in clean


def test_relative_links_are_dropped():
    assert "href" not in sanitize_email_html('<a href="/account/delete">x</a>')


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(PAYLOADS + ["<a href='", "' onclick='x'>", "<img ", "onerror=", "<scr", "ipt>", " on"]),
            st.text(max_size=15),
        ),
        max_size=20,
    ).map("".join)
)
def test_sanitised_output_has_no_script_or_handlers(html):
    clean = sanitize_email_html(html).lower()
    assert "<script" not in clean
    assert not _HANDLER.search(clean)
