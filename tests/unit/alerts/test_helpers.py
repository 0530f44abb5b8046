"""Small helpers: CSRF tokens, chart geometry, webhook signatures, digest escaping, SMTP URLs, retry schedule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from dealpulse.services.alert_digest import DigestItem, digest_message, smtp_endpoint
from dealpulse.services.alert_webhooks import next_attempt_at, sign, verify_signature
from dealpulse.store import AlertDelivery
from dealpulse.web.dashboard import bars, sparkline
from dealpulse.web.signin import csrf_token, csrf_valid, safe_next


@pytest.fixture
def flask_app() -> Flask:
    app = Flask(__name__)
    app.secret_key = "test"
    app.add_url_rule("/dashboard/", "dashboard.pipeline_page", lambda: "")
    return app


def test_csrf_token_is_stable_per_session_and_checked_in_constant_time(flask_app):
    with flask_app.test_request_context("/"):
        token = csrf_token()
        assert csrf_token() == token and len(token) >= 32
        assert csrf_valid(token)
        assert not csrf_valid(token[:-1] + ("a" if token[-1] != "a" else "b"))
        assert not csrf_valid("") and not csrf_valid(None)
    with flask_app.test_request_context("/"):
        assert not csrf_valid(token)  # another session


def test_sign_in_only_returns_to_local_paths(flask_app):
    with flask_app.test_request_context("/"):
        assert safe_next("/dashboard/deals/4?x=1") == "/dashboard/deals/4?x=1"
        for hostile in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "", None):
            assert safe_next(hostile) == "/dashboard/"


@given(st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False), max_size=30))
def test_sparkline_points_stay_inside_the_box(scores):
    spark = sparkline(scores, width=100, height=24)
    for pair in filter(None, spark.points.split(" ")):
        x, y = map(float, pair.split(","))
        assert 0 <= x <= 100 and 0 <= y <= 24
    assert (spark.last is None) == (not scores)


def test_sparkline_puts_positive_tone_above_negative():
    spark = sparkline([0.9, -0.9])
    (x1, y1), (x2, y2) = (tuple(map(float, p.split(","))) for p in spark.points.split(" "))
    assert x1 < x2 and y1 < spark.zero_y < y2


def test_bars_scale_to_the_tallest_value():
    chart = bars([{"inbound": 2, "outbound": 4}, {"inbound": 0, "outbound": 1}], ("inbound", "outbound"), height=120)
    tallest = max(b["h"] for b in chart["bars"])
    # 36 px under the x axis for the dates, 10 px headroom: the tallest bar reaches the y axis's top label
    assert chart["base"] == 84 and chart["top_y"] == 10 and chart["top_label"] == "4"
    assert tallest == 74 and all(b["y"] + b["h"] == chart["base"] for b in chart["bars"])
    assert [b["h"] for b in chart["bars"]] == [37.0, 74.0, 0.0, 18.5]  # 2, 4, 0, 1 of 4


def test_webhook_signature_round_trip():
    body = b'{"text":"hello"}'
    header = sign(body, "s3cret")
    assert header.startswith("sha256=") and verify_signature(body, "s3cret", header)
    assert not verify_signature(body, "other", header) and not verify_signature(b"{}", "s3cret", header)


def test_digest_html_is_escaped():
    item = DigestItem(1, "<script>x</script> Deal", "Rep", "critical", 'Said "<img src=x onerror=1>"', "http://h/d/1")
    message = digest_message("a@b", "m@b", "Manager", [item])
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "<img" not in html
    assert "\u2039script\u203ax\u2039/script\u203a Deal" in message.get_body(("plain",)).get_content()


def test_smtp_urls():
    assert smtp_endpoint("smtp://127.0.0.1:2525") == ("127.0.0.1", 2525)
    assert smtp_endpoint("smtp://mail.local") == ("mail.local", 25)
    with pytest.raises(ValueError, match="smtp://host:port"):
        smtp_endpoint("http://mail.local")


def test_webhook_retries_back_off_exponentially():
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    due = [next_attempt_at(AlertDelivery(created_at=created, attempts=n)) - created for n in range(4)]
    assert due == [timedelta(0), timedelta(seconds=30), timedelta(seconds=90), timedelta(seconds=210)]
