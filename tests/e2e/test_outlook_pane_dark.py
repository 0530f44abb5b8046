"""The task pane in dark mode (prefers-color-scheme: dark): dark background, light text, readable contrast."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import open_pane
from tests.e2e.test_outlook_pane import item_for, wait_loaded


@pytest.fixture
def color_scheme() -> str:
    """This module's browser prefers dark mode."""
    return "dark"


def _luminance(css_rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in css_rgb[css_rgb.index("(") + 1 : css_rgb.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_dark_mode_is_readable(page, live_server, world, inbox, screenshot_path, active_tone):
    stored = inbox.email(label="positive")
    open_pane(page, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(page)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    for selector in ("body", "#deal-name", "label[for='f-stage']", "#tone-badge"):
        color = page.evaluate(f"getComputedStyle(document.querySelector(\"{selector}\")).color")
        light, dark = sorted((_luminance(color), _luminance(background)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (selector, color, background)
    assert _luminance(background) < 0.05
    page.screenshot(path=str(screenshot_path("outlook-pane-320-dark.png")), full_page=True)
