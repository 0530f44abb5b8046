"""DEALPULSE_LOG_FORMAT=json: one JSON object per record, with the task context, extras and the traceback."""

import json
import logging
import sys

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.log_format import JsonFormatter, make_formatter


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("dealpulse.worker", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_record_becomes_one_json_line_with_its_context_and_extras() -> None:
    line = JsonFormatter().format(record("mailbox %d: %s", 7, "paused", task_context="[task=sync id=1] ", mailbox_id=7))
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "dealpulse.worker"
    assert entry["message"] == "mailbox 7: paused" and entry["task"] == "task=sync id=1" and entry["mailbox_id"] == 7
    assert entry["time"].endswith("+00:00")


def test_a_traceback_stays_inside_the_one_line() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(failed)
    assert "\n" not in line and "ValueError: bad" in json.loads(line)["exception"]


@given(st.text())
def test_any_message_is_one_parseable_line(message: str) -> None:
    line = make_formatter("json", "%(message)s").format(record("%s", message))
    assert "\n" not in line and json.loads(line)["message"] == message


def test_text_stays_the_default() -> None:
    assert make_formatter("text", "%(levelname)s %(message)s").format(record("hello")) == "WARNING hello"
