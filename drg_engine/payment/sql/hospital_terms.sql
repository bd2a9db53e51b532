-- hospital_terms: for every (hospital, insurance type) met in the claims, the hospital's
-- settlement level and coefficient, the unit values (DRG base rate / DIP point value) and the
-- per-stay and per-year benefit terms that apply to its claims.
--
-- Lookups take the most specific row: a listed hospital before the '*' default row; a unit value
-- for (insurance type, level) before (insurance type, any level) before (any type, level) before
-- (any, any); a benefit policy for the level before the policy for any level.
-- terms_id numbers the rows: the per-claim steps join on it instead of the two text keys.
-- Parameters: $scheme ('DRG' or 'DIP') picks the hospital coefficient column.
-- Reads: claims, hospitals, unit_values, benefit_policy, benefit_annual.
WITH claim_keys AS (
    SELECT DISTINCT hospital_id, insurance_type
    FROM claims
),

hospital AS (
    SELECT
        k.hospital_id,
        k.insurance_type,
        coalesce(listed.hospital_id, fallback.hospital_id) IS NOT NULL AS hospital_known,
        CASE WHEN listed.hospital_id IS NOT NULL THEN listed.level ELSE fallback.level END
            AS hospital_level,
        CASE
            WHEN listed.hospital_id IS NOT NULL AND $scheme = 'DRG' THEN listed.drg_coefficient
            WHEN listed.hospital_id IS NOT NULL THEN listed.dip_coefficient
            WHEN $scheme = 'DRG' THEN fallback.drg_coefficient
            ELSE fallback.dip_coefficient
        END AS hospital_coefficient
    FROM claim_keys AS k
    LEFT JOIN hospitals AS listed ON listed.hospital_id = k.hospital_id
    LEFT JOIN hospitals AS fallback ON fallback.hospital_id = '*'
),

unit AS (
    SELECT
        h.hospital_id,
        h.insurance_type,
        u.basis_unit_value,
        u.pay_unit_value,
        u.unit_value_source
    FROM hospital AS h
    INNER JOIN unit_values AS u
        ON (u.insurance_type IS NULL OR u.insurance_type = h.insurance_type)
        AND (u.hospital_level IS NULL OR u.hospital_level = h.hospital_level)
    QUALIFY row_number() OVER (
        PARTITION BY h.hospital_id, h.insurance_type
        ORDER BY u.insurance_type IS NULL, u.hospital_level IS NULL
    ) = 1
),

policy AS (
    SELECT
        h.hospital_id,
        h.insurance_type,
        p.deductible,
        p.reimbursement_ratio,
        p.stay_cap
    FROM hospital AS h
    INNER JOIN benefit_policy AS p
        ON p.insurance_type = h.insurance_type
        AND (p.hospital_level IS NULL OR p.hospital_level = h.hospital_level)
    QUALIFY row_number() OVER (
        PARTITION BY h.hospital_id, h.insurance_type
        ORDER BY p.hospital_level IS NULL
    ) = 1
)

SELECT
    CAST(row_number() OVER (ORDER BY h.hospital_id, h.insurance_type) AS INTEGER) AS terms_id,
    h.hospital_id,
    h.insurance_type,
    h.hospital_known,
    h.hospital_level,
    h.hospital_coefficient,
    unit.basis_unit_value IS NOT NULL AS has_unit_value,
    unit.basis_unit_value,
    unit.pay_unit_value,
    unit.unit_value_source,
    policy.deductible IS NOT NULL AS has_benefit_policy,
    policy.deductible,
    policy.reimbursement_ratio,
    policy.stay_cap,
    annual.insurance_type IS NOT NULL AS has_benefit_annual,
    annual.annual_cap,
    annual.serious_illness_deductible,
    annual.serious_illness_ratio,
    annual.serious_illness_cap
FROM hospital AS h
LEFT JOIN unit
    ON unit.hospital_id IS NOT DISTINCT FROM h.hospital_id
    AND unit.insurance_type = h.insurance_type
LEFT JOIN policy
    ON policy.hospital_id IS NOT DISTINCT FROM h.hospital_id
    AND policy.insurance_type = h.insurance_type
LEFT JOIN benefit_annual AS annual ON annual.insurance_type = h.insurance_type
ORDER BY h.hospital_id, h.insurance_type
