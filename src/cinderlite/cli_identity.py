"""`cinderlite` subcommands for identity management (users, projects, roles)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    """Register identity subcommands on the `cinderlite` parser; each sets `handler`."""
    _ = (sub, argparse)
