"""The ``drg`` command line: thin click commands over the library.

Exit codes: 0 the job ran (rejected rows are reported, not fatal); 1 the job could not run
(unreadable input, missing columns, unknown or broken rule set); 2 the command line itself is
wrong (click's usage errors).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from drg_engine.errors import DrgEngineError

from .common import fail
from .engines import ENGINES, run_group_command

# Subcommands in other modules load when used, so `drg group` does not pay for DuckDB, the audit
# rules or the DIP tables at start-up.
LAZY_COMMANDS = {
    "rules": "drg_engine.cli.rules:rules",
    "impact": "drg_engine.cli.impact:impact",
    "pay": "drg_engine.cli.pay:pay",
    "calibrate": "drg_engine.cli.pay:calibrate",
    "audit": "drg_engine.cli.audit:audit",
    "dip": "drg_engine.cli.dip:dip",
}


class LazyGroup(click.Group):
    """A click group whose listed subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, attribute = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="drg-engine")
def main() -> None:
    """drg-engine: CHS-DRG grouping, payment and audit for inpatient claims."""


SCHEMES = ("drg", "dip")


def _dip_rules_option(dip_rules: str | None) -> dict[str, str]:
    """``--dip-rules`` when given; otherwise the DIP pipeline's own default rule set."""
    return {} if dip_rules is None else {"dip_rules": dip_rules}


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Results file; the format follows the extension "
                   "(.parquet, .arrow/.ipc/.feather, .jsonl/.ndjson, .csv).")
@click.option("--scheme", type=click.Choice(SCHEMES), default="drg", show_default=True,
              help="Group into CHS-DRG groups (drg) or DIP disease-type groups (dip).")
@click.option("--rules", "rules_id", default="chs_drg_1_1", show_default=True,
              help="DRG rule-set id under grouper_rules/, a rule-set folder, or 'auto' to pick "
                   "per claim by region and discharge date (grouper_rules/registry.toml).")
@click.option("--dip-rules", "dip_rules", default=None,
              help="DIP rule-set id under grouper_rules/dip/ or a folder (with --scheme dip; "
                   "default: dip3_national_partial).")
@click.option("--bundles", "bundles", default=None,
              help="Single-disease bundle list under grouper_rules/bundles/ (or a folder): add "
                   "the bundle columns to the results.")
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path),
              help="Where rejected rows go (default: OUT with '.rejects' before the extension).")
@click.option("--evidence/--no-evidence", default=False, show_default=True,
              help="Also write the evidence columns (entered MDCs, matched codes, CC/MCC).")
@click.option("--keep-input", is_flag=True,
              help="Carry the normalised input columns (costs, dates, hospital, ...) after the "
                   "results, as `drg pay` and `drg audit` need them.")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="local: stream the file batch by batch on two workers in bounded memory; "
                   "dask or spark: one task per Parquet row group on a cluster.")
@click.option("--address", default=None,
              help="Dask scheduler address (tcp://host:8786; default local threads) or Spark "
                   "master URL (default local[*]), with --engine dask|spark.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def group(input_path: Path, output: Path, scheme: str, rules_id: str, dip_rules: str,
          bundles: str | None, rejects_path: Path | None, evidence: bool, keep_input: bool,
          engine: str, address: str | None, quiet: bool) -> None:
    """Group the claims in IN and write one result row per claim to OUT.

    Rows that cannot be read (missing or duplicate claim id, unparseable number or date,
    discharge before admission, negative LOS) go to the rejects file with row number, field,
    reason code and message: rows in = grouped + rejected, always.
    """
    if scheme == "dip":
        if engine != "local":
            fail("--scheme dip runs on --engine local")
        from .dip import run_dip_group

        run_dip_group(input_path, output, bundles=bundles, rejects_path=rejects_path,
                      evidence=evidence, keep_input=keep_input, quiet=quiet,
                      **_dip_rules_option(dip_rules))
        return
    if bundles is not None:
        if engine != "local":
            fail("--bundles runs on --engine local")
        from .whole_file import group_whole_file

        group_whole_file(input_path, output, rules_id, bundles, rejects_path, evidence,
                         keep_input, quiet)
        return
    sys.exit(run_group_command(input_path, output, rules_id, rejects_path, evidence=evidence,
                               keep_input=keep_input, quiet=quiet, engine=engine,
                               address=address))


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("--claim", "claim_id", required=True, help="The claim id to explain.")
@click.option("--scheme", type=click.Choice(SCHEMES), default="drg", show_default=True,
              help="Explain the CHS-DRG group (drg) or the DIP group (dip).")
@click.option("--rules", "rules_id", default="chs_drg_1_1", show_default=True,
              help="DRG rule-set id under grouper_rules/ or a rule-set folder.")
@click.option("--dip-rules", "dip_rules", default=None,
              help="DIP rule-set id under grouper_rules/dip/ or a folder (with --scheme dip; "
                   "default: dip3_national_partial).")
@click.option("--bundles", "bundles", default=None,
              help="Also explain the single-disease bundle choice (with --scheme dip).")
def explain(input_path: Path, claim_id: str, scheme: str, rules_id: str, dip_rules: str,
            bundles: str | None) -> None:
    """Explain, step by step, why claim ID in IN got its group (or why it was not grouped)."""
    if scheme == "dip":
        from .dip import run_dip_explain

        run_dip_explain(input_path, claim_id, bundles=bundles, **_dip_rules_option(dip_rules))
        return
    from drg_engine.explain import explain_file

    try:
        click.echo(explain_file(input_path, claim_id, rules_id))
    except DrgEngineError as exc:
        fail(str(exc))


