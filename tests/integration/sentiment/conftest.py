"""Tone test fixtures: the tiny model (fast) and the real seed model (slow tests)."""

from tests.fixtures.tiny_model.fixtures import seed_model_dir, tiny_base, tiny_registry, tiny_versions  # noqa: F401
