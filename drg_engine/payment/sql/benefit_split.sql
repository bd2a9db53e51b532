-- benefit_split: split each stay's cost between the fund and the patient (fee-for-service, as
-- patients settle with hospitals under DRG and DIP alike).
--
-- Per stay: out-of-policy cost is the patient's; the patient pays the deductible (起付线) from
-- the in-policy cost; the basic fund is entitled to ratio x (in-policy - deductible), at most the
-- stay cap. Per patient, insurance type and calendar year of discharge, stays ordered by
-- discharge date then claim id (then input position, should a claim id repeat): the basic fund
-- pays its cumulative entitlement up to the annual cap (封顶线), and the serious-illness layer
-- (大病保险) pays its ratio of the cumulative in-policy self-pay above its deductible, up to its
-- cap. Each stay gets the difference of the rounded cumulative amounts, so money is rounded
-- once, per patient-year totals never pass a cap, and fund + patient = total cost for every
-- stay. A refund (negative cost) lowers the cumulative amounts and frees cap room. Claims
-- without patient id stand alone.
--
-- This file computes the part of the split that depends on the patient's other stays: the
-- fund's two layers and their sum (claim_payments adds the parts that depend on the stay alone),
-- with the claim's hospital_terms row (terms_id) for the steps after it. The split does not
-- depend on the DRG/DIP price, so it reads the claims directly, and the window carries only its
-- keys, the two amounts it sums and the terms row; the result is sorted back into input order
-- (row_position) while it is a few narrow columns. Every intermediate amount is cast back to a
-- 64-bit decimal (DECIMAL(18, s): up to 10^12 yuan a patient-year) because DuckDB widens sums
-- and differences to 128 bits, where rounding is an order of magnitude slower.
-- Reads: claims, hospital_terms.
WITH stay AS (
    SELECT
        c.row_position,
        c.claim_id,
        c.patient_id,
        c.insurance_type,
        c.discharge_date,
        t.terms_id,
        coalesce(c.in_policy_cost, c.total_cost) AS in_policy_cost,
        stay_deductible(coalesce(c.in_policy_cost, c.total_cost), t.deductible)
            AS deductible_paid,
        CAST(t.reimbursement_ratio AS DECIMAL(18, 4)) AS reimbursement_ratio,
        CAST(t.stay_cap AS DECIMAL(18, 6)) AS stay_cap
    FROM claims AS c
    INNER JOIN hospital_terms AS t
        ON t.hospital_id IS NOT DISTINCT FROM c.hospital_id
        AND t.insurance_type = c.insurance_type
),

entitled AS (
    SELECT
        row_position,
        claim_id,
        patient_id,
        insurance_type,
        discharge_date,
        terms_id,
        in_policy_cost,
        CASE WHEN stay_cap IS NULL THEN uncapped ELSE least(uncapped, stay_cap) END
            AS basic_entitlement
    FROM (
        SELECT
            *,
            CAST(reimbursement_ratio
                * CAST(in_policy_cost - deductible_paid AS DECIMAL(18, 2)) AS DECIMAL(18, 6))
                AS uncapped
        FROM stay
    )
),

cumulative AS (
    SELECT
        row_position,
        terms_id,
        in_policy_cost,
        basic_entitlement,
        CAST(sum(basic_entitlement) OVER patient_year AS DECIMAL(18, 6))
            AS basic_entitlement_to_date,
        CAST(sum(in_policy_cost) OVER patient_year AS DECIMAL(18, 2)) AS in_policy_to_date
    FROM entitled
    WINDOW patient_year AS (
        PARTITION BY
            patient_id,
            CASE WHEN patient_id IS NULL THEN claim_id END,
            insurance_type,
            year(discharge_date)
        ORDER BY discharge_date, claim_id, row_position
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
),

before AS (
    SELECT
        c.row_position,
        c.terms_id,
        c.basic_entitlement_to_date,
        CAST(c.basic_entitlement_to_date - c.basic_entitlement AS DECIMAL(18, 6))
            AS basic_entitlement_before,
        c.in_policy_to_date,
        CAST(c.in_policy_to_date - c.in_policy_cost AS DECIMAL(18, 2)) AS in_policy_before,
        CAST(t.annual_cap AS DECIMAL(18, 6)) AS annual_cap,
        CAST(t.serious_illness_deductible AS DECIMAL(18, 2)) AS serious_illness_deductible,
        CAST(t.serious_illness_ratio AS DECIMAL(18, 4)) AS serious_illness_ratio,
        CAST(t.serious_illness_cap AS DECIMAL(18, 6)) AS serious_illness_cap
    FROM cumulative AS c
    INNER JOIN hospital_terms AS t ON t.terms_id = c.terms_id
),

basic AS (
    SELECT
        *,
        round(CASE WHEN annual_cap IS NULL THEN basic_entitlement_to_date
            ELSE least(basic_entitlement_to_date, annual_cap) END, 2) AS basic_paid_to_date,
        round(CASE WHEN annual_cap IS NULL THEN basic_entitlement_before
            ELSE least(basic_entitlement_before, annual_cap) END, 2) AS basic_paid_before
    FROM before
),

self_pay AS (
    SELECT
        *,
        CAST(greatest(
            CAST(in_policy_to_date - basic_paid_to_date AS DECIMAL(18, 2))
                - serious_illness_deductible,
            0
        ) AS DECIMAL(18, 2)) AS covered_to_date,
        CAST(greatest(
            CAST(in_policy_before - basic_paid_before AS DECIMAL(18, 2))
                - serious_illness_deductible,
            0
        ) AS DECIMAL(18, 2)) AS covered_before
    FROM basic
),

serious_illness AS (
    SELECT
        *,
        CASE WHEN serious_illness_ratio IS NULL THEN CAST(0 AS DECIMAL(18, 2)) ELSE CAST(
            round(CASE
                WHEN serious_illness_cap IS NULL THEN serious_illness_ratio * covered_to_date
                ELSE least(serious_illness_ratio * covered_to_date, serious_illness_cap)
            END, 2)
            - round(CASE
                WHEN serious_illness_cap IS NULL THEN serious_illness_ratio * covered_before
                ELSE least(serious_illness_ratio * covered_before, serious_illness_cap)
            END, 2)
            AS DECIMAL(18, 2)) END AS serious_illness_paid
    FROM self_pay
)

SELECT
    row_position,
    terms_id,
    CAST(basic_paid_to_date - basic_paid_before AS DECIMAL(18, 2)) AS basic_fund_paid,
    serious_illness_paid,
    CAST(basic_paid_to_date - basic_paid_before + serious_illness_paid AS DECIMAL(18, 2))
        AS fund_share
FROM serious_illness
ORDER BY row_position
