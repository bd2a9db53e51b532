"""Shared fixtures: the repo paths, a clean-batch builder, compiled rules and the oracle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import settings

from drg_engine.grouping.oracle import Oracle, load_oracle
from drg_engine.rules import CompiledRules, load_rules
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.schema import CLAIM_SCHEMA

# In CI the property tests explore the same examples on every run, so a red build is always
# reproducible (`CI=1 pytest ...`); locally each run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "sample_claims"


def make_clean_batch(claims: list[dict[str, Any]]) -> pa.Table:
    """A clean batch in the canonical schema; unspecified fields are null."""
    columns = {field.name: [claim.get(field.name) for claim in claims] for field in CLAIM_SCHEMA}
    columns["row_number"] = list(range(1, len(claims) + 1))
    for name in ("diagnoses", "procedures"):
        columns[name] = [value or [] for value in columns[name]]
    return pa.table(columns, schema=CLAIM_SCHEMA)


@pytest.fixture(scope="session")
def rules() -> CompiledRules:
    return load_rules("chs_drg_1_1")


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    return load_oracle(locate_rule_set("chs_drg_1_1"))


@pytest.fixture(scope="session")
def qy_oracle() -> Oracle:
    return load_oracle(locate_rule_set("chs_drg_1_1_qy"))
