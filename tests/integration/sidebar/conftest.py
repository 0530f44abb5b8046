"""Sidebar fixtures (defined in tests/integration/sidebar/support.py): `tiny_model_dir`, `active_tone`, `inbox`."""

from tests.integration.sidebar.support import active_tone, inbox, tiny_model_dir

__all__ = ["active_tone", "inbox", "tiny_model_dir"]
