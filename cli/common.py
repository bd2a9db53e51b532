"""What every ``drg`` command shares: failing with a message and exit code 1."""

from __future__ import annotations

import sys

import click

EXIT_OK, EXIT_FAILED = 0, 1


def fail(message: str) -> None:
    """Print ``Error: message`` to stderr and exit 1 (the job could not run)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_FAILED)
