-- Exact decimal helpers. DuckDB divides DECIMALs in DOUBLE; these macros divide in HUGEINT
-- integer arithmetic instead, so quotients are exact to 18 decimal places (truncated toward
-- zero) and money is never touched by binary floating point.

-- x (|x| < 1.7e20) as the integer x * 10^18.
CREATE OR REPLACE TEMP MACRO dec18_to_int(x) AS
    CAST(trunc(CAST(x AS DECIMAL(38, 18))) AS HUGEINT) * CAST(1000000000000000000 AS HUGEINT)
    + CAST((CAST(x AS DECIMAL(38, 18)) - trunc(CAST(x AS DECIMAL(38, 18))))
           * CAST(1000000000000000000 AS DECIMAL(19, 0)) AS HUGEINT);

-- The integer q (a value times 10^18, |q| < 10^38) back as DECIMAL(38, 18). The product keeps
-- q as its unscaled value, so nothing is rounded; q appears once because a macro repeats its
-- argument's whole expression wherever the argument appears.
CREATE OR REPLACE TEMP MACRO int_to_dec18(q) AS
    CAST(q AS DECIMAL(38, 0)) * CAST(0.000000000000000001 AS DECIMAL(38, 18));

-- n / d for integers n, d scaled alike: the quotient times 10^18, by long division in base 10^9.
CREATE OR REPLACE TEMP MACRO int_div18(n, d) AS
    (n // d) * CAST(1000000000000000000 AS HUGEINT)
    + ((n % d) * 1000000000 // d) * 1000000000
    + (((n % d) * 1000000000 % d) * 1000000000 // d);

-- n / d for integers n, d scaled alike, as DECIMAL(38, 18), exact to the 18th decimal
-- (truncated toward zero); NULL if d = 0. Give it columns: int_div18 repeats its arguments.
CREATE OR REPLACE TEMP MACRO int_quotient18(n, d) AS
    CASE WHEN d <> 0 THEN int_to_dec18(int_div18(n, d)) END;

-- n / d as DECIMAL(38, 18), exact to the 18th decimal (truncated toward zero); NULL if d = 0.
CREATE OR REPLACE TEMP MACRO exact_div(n, d) AS int_quotient18(dec18_to_int(n), dec18_to_int(d));

-- x rounded half away from zero to the fen, exactly, as DECIMAL(18, 2). `approx` is x computed
-- in DOUBLE from the same decimal operands (a few multiplications: relative error < 1e-15, so
-- under 1e-6 fen for |x| < 10^7 yuan). Rounding approx gives the same fen as rounding x unless
-- x lies within that error of a half fen; only those rows (and huge amounts) take the exact
-- path, where DOUBLE merely proposes a candidate that decimal comparisons correct. This keeps
-- money exact without DuckDB's slow scale reduction of 128-bit decimals.
CREATE OR REPLACE TEMP MACRO fen_fix(x, candidate) AS
    CASE
        WHEN x - candidate > 0.005 OR (x - candidate = 0.005 AND x > 0)
            THEN candidate + CAST(0.01 AS DECIMAL(18, 2))
        WHEN x - candidate < -0.005 OR (x - candidate = -0.005 AND x < 0)
            THEN candidate - CAST(0.01 AS DECIMAL(18, 2))
        ELSE candidate
    END;

CREATE OR REPLACE TEMP MACRO round_money(x, approx) AS
    CASE
        WHEN abs(approx) < 1e7 AND abs(approx * 100 - floor(approx * 100) - 0.5) > 1e-6
            THEN CAST(round(approx, 2) AS DECIMAL(18, 2))
        ELSE fen_fix(x, CAST(round(approx, 2) AS DECIMAL(18, 2)))
    END;

-- The same to 4 places (weights, scores, case units, |x| < 10^5), as DECIMAL(18, 4).
CREATE OR REPLACE TEMP MACRO units_fix(x, candidate) AS
    CASE
        WHEN x - candidate > 0.00005 OR (x - candidate = 0.00005 AND x > 0)
            THEN candidate + CAST(0.0001 AS DECIMAL(18, 4))
        WHEN x - candidate < -0.00005 OR (x - candidate = -0.00005 AND x < 0)
            THEN candidate - CAST(0.0001 AS DECIMAL(18, 4))
        ELSE candidate
    END;

CREATE OR REPLACE TEMP MACRO round_units(x, approx) AS
    CASE
        WHEN abs(approx) < 1e5
            AND abs(approx * 10000 - floor(approx * 10000) - 0.5) > 1e-6
            THEN CAST(round(approx, 4) AS DECIMAL(18, 4))
        ELSE units_fix(x, CAST(round(approx, 4) AS DECIMAL(18, 4)))
    END;

-- The deductible (起付线) a stay pays from its in-policy cost: none on a refund.
CREATE OR REPLACE TEMP MACRO stay_deductible(in_policy_cost, deductible) AS
    CASE WHEN in_policy_cost > 0 THEN least(in_policy_cost, CAST(deductible AS DECIMAL(18, 2)))
        ELSE CAST(0 AS DECIMAL(18, 2)) END;

-- Case classes and payment modes as enums: one byte a claim, compared as integers, dictionaries
-- in Arrow.
CREATE TYPE case_class AS ENUM (
    'NORMAL', 'LOW', 'HIGH', 'EXTREME', 'UNGROUPABLE', 'NO_WEIGHT', 'MISSING_WEIGHT',
    'MISSING_AUX_COEFFICIENT', 'REFUND'
);
CREATE TYPE payment_mode AS ENUM ('group', 'ratio', 'review', 'per_item');
