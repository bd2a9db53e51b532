"""What every ``drg`` command shares: failing with a message and exit code 1."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pyarrow as pa

from drg_engine.io import default_rejects_path, write_table

EXIT_OK, EXIT_FAILED = 0, 1


def fail(message: str) -> None:
    """Print ``Error: message`` to stderr and exit 1 (the job could not run)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_FAILED)


def write_results(results: pa.Table, rejects: pa.Table, output: Path,
                  rejects_path: Path | None) -> Path | None:
    """Write OUT and, when there are rejects or a path was named, the rejects file beside it.

    Returns where the rejects went (None when there were none and no path was named).
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    write_table(results, output)
    if not rejects.num_rows and rejects_path is None:
        return None
    written = rejects_path or default_rejects_path(output)
    written.parent.mkdir(parents=True, exist_ok=True)
    write_table(rejects, written)
    return written
