"""The `dealpulse` command: one group, with subcommands contributed by each area's `commands` module."""

from __future__ import annotations

import os
import sys
from types import ModuleType

import click

from .commands import (
    admin, alerts, bench, core, demo, doctor, forecast, learning, mail, sentiment, sidebar, standins, suggestions, winmodel,
)

# Modules exposing `register(group: click.Group) -> None`, in registration order; each area adds its module.
COMMAND_MODULES: tuple[ModuleType, ...] = (core, demo, sentiment, learning, mail, sidebar, alerts, bench, admin, forecast, standins,
                                           winmodel, doctor, suggestions)


@click.group(help="DealPulse: the deal next to the email.")
@click.version_option(package_name="dealpulse")
def cli() -> None:
    """Root command group."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


_registered = False


def build_cli() -> click.Group:
    """The root group with every area's subcommands registered (idempotent; tests use it with CliRunner)."""
    global _registered
    if not _registered:
        for module in COMMAND_MODULES:
            module.register(cli)
        _registered = True
    return cli


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        build_cli().main(args=argv, prog_name="dealpulse", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
