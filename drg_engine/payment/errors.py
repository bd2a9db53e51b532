"""Errors of the payment layer: broken parameter sets, unusable claim tables, missing parameters.

All derive from `DrgEngineError`, so the CLI prints the message (exit code 1) instead of a
traceback. Messages name the file, line and field, or the group / hospital / insurance type
that has no parameter, and say what to add.
"""

from __future__ import annotations

from drg_engine.errors import DrgEngineError


class PaymentParameterError(DrgEngineError):
    """A parameter set's manifest or tables are invalid (file, line and field are named)."""


class MissingPaymentParameterError(PaymentParameterError):
    """Claims need a parameter the set does not have (e.g. a DRG with no weight)."""


class PaymentInputError(DrgEngineError):
    """The claims to price lack a column or hold values that cannot be priced."""
