"""Payment and settlement: DRG and DIP pricing, outliers, the fund/patient split, hospital
settlement and calibration, computed by DuckDB SQL (``sql/``) over Arrow with exact decimals.

    from drg_engine.payment import load_params, price_claims
    run = price_claims(grouped_table, "anon_region_2025")
    run.claims       # one row per claim: class, units, case payment, fund / patient shares
    run.settlement   # per hospital, by month and year: totals, balance, shared amounts

Parameter sets are versioned data under ``payment_params/`` (manifest.toml + CSV tables).
"""

from drg_engine.payment.calibration import (
    Calibration,
    CalibrationOptions,
    calibrate,
    write_calibrated_params,
)
from drg_engine.payment.errors import (
    MissingPaymentParameterError,
    PaymentInputError,
    PaymentParameterError,
)
from drg_engine.payment.params import PaymentParams, available_param_sets, load_params
from drg_engine.payment.pricing import PaymentRun, price_claims, price_file

__all__ = [
    "Calibration",
    "CalibrationOptions",
    "MissingPaymentParameterError",
    "PaymentInputError",
    "PaymentParameterError",
    "PaymentParams",
    "PaymentRun",
    "available_param_sets",
    "calibrate",
    "load_params",
    "price_claims",
    "price_file",
    "write_calibrated_params",
]
