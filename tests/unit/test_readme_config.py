"""The README documents every setting, and the quick start is the two commands."""

from pathlib import Path

from dealpulse.config import PROJECT_ROOT, documented_settings


def test_every_setting_is_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [env for env, _default, _doc in documented_settings() if f"`{env}`" not in readme]
    assert missing == []


def test_quick_start_is_two_commands():
    readme = Path(PROJECT_ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
