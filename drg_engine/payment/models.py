"""Pydantic models of a payment parameter set: the manifest and one row model per CSV table.

Amounts are `Decimal` with a fixed number of places, so a value that would need rounding is an
error instead of a silent change: money 2 places (fen), DRG weights and DIP scores 6, hospital
and auxiliary coefficients, ratios, multiples and unit values (base rate, point value) 4.
Empty CSV cells take the column's default (mostly none); booleans accept true/false, 1/0,
yes/no.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Money = Annotated[Decimal, Field(ge=0, decimal_places=2)]
PositiveMoney = Annotated[Decimal, Field(gt=0, decimal_places=2)]
GroupValue = Annotated[Decimal, Field(ge=0, decimal_places=6)]
Coefficient = Annotated[Decimal, Field(gt=0, decimal_places=4)]
Ratio = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
Multiple = Annotated[Decimal, Field(gt=0, decimal_places=4)]
UnitValue = Annotated[Decimal, Field(gt=0, decimal_places=4)]
Level = Annotated[int, Field(ge=0, le=9)]

Scheme = Literal["DRG", "DIP"]
OutlierMode = Literal["per_item", "ratio", "review", "group"]

# Tables every parameter set needs, and those each scheme or option adds.
COMMON_TABLES = (
    "hospitals",
    "outlier_rules",
    "benefit_policy",
    "benefit_annual",
    "settlement_shares",
)
SCHEME_TABLES: dict[str, tuple[str, ...]] = {
    "DRG": ("drg_weights", "base_rates"),
    "DIP": ("dip_scores", "point_values"),
}
OPTIONAL_TABLES = ("dip_auxiliary", "fund_budget")
KNOWN_TABLES = COMMON_TABLES + SCHEME_TABLES["DRG"] + SCHEME_TABLES["DIP"] + OPTIONAL_TABLES


class PricingOptions(BaseModel):
    """The ``[pricing]`` section: which scheme, where unit values come from, how outliers work."""

    model_config = ConfigDict(extra="forbid")

    scheme: Scheme
    # "table": base rates / point values from the tables; "from_budget": the unit value is the
    # year's fund budget / fund payment ratio / total units (DIP settlement point value, or a
    # floating DRG rate), computed over the claims being priced.
    unit_value: Literal["table", "from_budget"] = "table"
    # Outlier multiples apply to the payment standard, or to the group's average cost.
    outlier_basis: Literal["standard", "group_average"] = "standard"
    # Share of the cost paid for ungroupable claims (0000 / QY), which are paid per item.
    ungroupable_payment_ratio: Ratio = Decimal(1)
    # A grouped claim whose group has no weight/score row: stop with an error, or pay per item.
    on_missing_weight: Literal["error", "per_item"] = "error"
    # Insurance type of claims without an insurance_type column or value.
    default_insurance_type: str = Field(min_length=1)
    # Ceiling on the share of special-review cases (DRG 5%, DIP 5 per mille); reported only.
    special_review_max_share: Ratio | None = None


class Manifest(BaseModel):
    """``manifest.toml``: identity, validity period, pricing options and table files."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    region: str
    version: str
    effective_from: date
    effective_to: date | None = None
    currency: Literal["CNY"] = "CNY"
    source: str
    extends: str | None = None
    pricing: PricingOptions
    tables: dict[str, str] = {}

    @model_validator(mode="after")
    def _period(self) -> Manifest:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class Row(BaseModel):
    """Base of the CSV row models: unknown columns are errors (the loader drops empty cells,
    so an empty cell takes the column's default)."""

    model_config = ConfigDict(extra="forbid")


class HospitalRow(Row):
    """A hospital (``*`` = every hospital not listed): settlement level and coefficients."""

    hospital_id: str
    name: str | None = None
    level: Level
    drg_coefficient: Coefficient = Decimal(1)
    dip_coefficient: Coefficient = Decimal(1)
    note: str | None = None


class DrgWeightRow(Row):
    """A DRG's relative weight, for the listed hospital levels (``2|3``) or all (empty)."""

    drg: str
    hospital_levels: str | None = Field(default=None, pattern=r"^\d(\|\d)*$")
    weight: GroupValue | None = None
    # "group": paid weight x rate x coefficient; "per_item": a group without a weight (无权重组,
    # or not paid at this level) paid per item with a flag.
    payment: Literal["group", "per_item"] = "group"
    apply_hospital_coefficient: bool = True
    average_cost: PositiveMoney | None = None
    cases: int | None = Field(default=None, ge=0)
    group_attr: str | None = None
    weight_source: str | None = None
    catalogue_code: str | None = None
    name_zh: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _weight_when_paid_by_group(self) -> DrgWeightRow:
        if self.payment == "group" and not self.weight:
            raise ValueError("weight must be > 0 when payment is 'group'")
        return self

    @property
    def levels(self) -> list[int | None]:
        if self.hospital_levels is None:
            return [None]
        return [int(level) for level in self.hospital_levels.split("|")]


class DipScoreRow(Row):
    """A DIP group's score (分值); basic-level groups (基层病种) carry no hospital coefficient."""

    dip_group: str
    score: GroupValue | None = None
    payment: Literal["group", "per_item"] = "group"
    apply_hospital_coefficient: bool = True
    average_cost: PositiveMoney | None = None
    cases: int | None = Field(default=None, ge=0)
    group_kind: str | None = None
    score_source: str | None = None
    name: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _score_when_paid_by_group(self) -> DipScoreRow:
        if self.payment == "group" and not self.score:
            raise ValueError("score must be > 0 when payment is 'group'")
        return self


class DipAuxiliaryRow(Row):
    """An auxiliary sub-type (辅助分型) of a DIP group and its coefficient m_j / M."""

    dip_group: str
    aux_type: str
    aux_coefficient: Coefficient
    name: str | None = None
    note: str | None = None


class BaseRateRow(Row):
    """DRG base rate (费率, yuan per weight) by insurance type and hospital level (empty = all)."""

    insurance_type: str | None = None
    hospital_level: Level | None = None
    base_rate: UnitValue
    note: str | None = None


class PointValueRow(Row):
    """DIP point values (点值, yuan per point) by insurance type (empty = all).

    The budget point value (年初点值) prices the payment standard that outliers are measured
    against; the settlement point value (结算点值), when given, prices the payment.
    """

    insurance_type: str | None = None
    budget_point_value: UnitValue
    settlement_point_value: UnitValue | None = None
    note: str | None = None


class FundBudgetRow(Row):
    """The year's fund budget for the scheme, and the fund payment ratio (empty = from data)."""

    insurance_type: str | None = None
    fund_budget: PositiveMoney
    fund_payment_ratio: Annotated[Decimal, Field(gt=0, le=1, decimal_places=4)] | None = None
    note: str | None = None


class OutlierRuleRow(Row):
    """A low / high / extreme outlier rule for groups whose value lies in [band_from, band_to).

    A claim is an outlier when its cost is below (low) or above (high, extreme) ``multiple``
    times the basis; ``inclusive`` counts a cost exactly at the boundary as an outlier. Modes:
    per_item (paid at cost), ratio (units scaled by cost / basis; high: 1 + add_on_ratio x
    (cost / basis - multiple)), review (special-review flag, paid at the standard pending
    review), group (flagged but paid at the standard).
    """

    kind: Literal["low", "high", "extreme"]
    hospital_level: Level | None = None
    band_from: GroupValue = Decimal(0)
    band_to: GroupValue | None = None
    multiple: Multiple
    inclusive: bool
    mode: OutlierMode
    add_on_ratio: Annotated[Decimal, Field(ge=0, decimal_places=4)] = Decimal(1)
    apply_coefficient: bool = True
    note: str | None = None

    @model_validator(mode="after")
    def _band(self) -> OutlierRuleRow:
        if self.band_to is not None and self.band_to <= self.band_from:
            raise ValueError("band_to must be greater than band_from")
        return self


class BenefitPolicyRow(Row):
    """Per-stay benefit terms by insurance type and hospital level (empty = all levels)."""

    insurance_type: str
    hospital_level: Level | None = None
    deductible: Money
    reimbursement_ratio: Ratio
    stay_cap: Money | None = None
    note: str | None = None


class BenefitAnnualRow(Row):
    """Per-patient, per-year terms of an insurance type: the basic fund's annual cap and the
    serious-illness layer (大病保险) on the in-policy self-pay left after the basic fund."""

    insurance_type: str
    annual_cap: Money | None = None
    serious_illness_deductible: Money | None = None
    serious_illness_ratio: Ratio | None = None
    serious_illness_cap: Money | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _serious_illness_complete(self) -> BenefitAnnualRow:
        layer = (self.serious_illness_deductible, self.serious_illness_ratio)
        if (layer[0] is None) != (layer[1] is None):
            raise ValueError(
                "serious_illness_deductible and serious_illness_ratio go together (or both empty)"
            )
        if self.serious_illness_cap is not None and layer[1] is None:
            raise ValueError("serious_illness_cap needs serious_illness_ratio")
        return self


class SettlementShareRow(Row):
    """A band of the hospital's balance, as a share of its actual cost (0.1 = 10%).

    Surplus rows: share the hospital retains (结余留用). Overspend rows: share the fund bears
    (合理超支分担). Bands are marginal, like tax brackets.
    """

    direction: Literal["surplus", "overspend"]
    band_from: Annotated[Decimal, Field(ge=0, decimal_places=4)]
    band_to: Annotated[Decimal, Field(gt=0, decimal_places=4)] | None = None
    share: Ratio
    note: str | None = None


ROW_MODELS: dict[str, type[Row]] = {
    "hospitals": HospitalRow,
    "drg_weights": DrgWeightRow,
    "dip_scores": DipScoreRow,
    "dip_auxiliary": DipAuxiliaryRow,
    "base_rates": BaseRateRow,
    "point_values": PointValueRow,
    "fund_budget": FundBudgetRow,
    "outlier_rules": OutlierRuleRow,
    "benefit_policy": BenefitPolicyRow,
    "benefit_annual": BenefitAnnualRow,
    "settlement_shares": SettlementShareRow,
}
