-- price_terms: everything about a claim's price that does not depend on its cost, per hospital,
-- insurance type (terms_id: the hospital_terms row), payment group and auxiliary type (NULL =
-- none): a few tens of thousands of rows, so the exact decimal work is done here once instead
-- of for every claim.
--
-- payment standard = group value x coefficient x unit value, where the group value is the DRG
-- relative weight (权重) or the DIP score (分值), the coefficient is the hospital coefficient
-- (调节系数; 1 for groups that waive it, e.g. DIP basic-level groups) times the DIP auxiliary
-- coefficient (辅助分型系数), and the unit value is the DRG base rate (费率) or the DIP budget
-- point value (年初点值). The outlier basis is that standard or, with $outlier_basis =
-- 'group_average', the group's average cost. Because costs are whole fen, "cost below
-- multiple x basis" is the exact test cost <= low_max, with low_max the largest fen below (or,
-- when inclusive, at) the boundary; high_min and extreme_min likewise from above. The basis
-- itself goes to case_pricing as the integer basis x 10^18 (basis_int18), which the exact
-- division of a claim's cost by it takes.
-- Reads: hospital_terms, group_terms, aux_coefficients.
WITH combined AS (
    SELECT
        h.terms_id,
        h.hospital_id,
        h.insurance_type,
        g.payment_group,
        CAST(NULL AS VARCHAR) AS aux_type,
        CAST(1 AS DECIMAL(38, 4)) AS aux_coefficient,
        h.hospital_coefficient,
        h.basis_unit_value,
        h.pay_unit_value,
        g.* EXCLUDE (payment_group, hospital_level)
    FROM hospital_terms AS h
    INNER JOIN group_terms AS g ON g.hospital_level = h.hospital_level
    UNION ALL
    SELECT
        h.terms_id,
        h.hospital_id,
        h.insurance_type,
        g.payment_group,
        a.aux_type,
        a.aux_coefficient,
        h.hospital_coefficient,
        h.basis_unit_value,
        h.pay_unit_value,
        g.* EXCLUDE (payment_group, hospital_level)
    FROM hospital_terms AS h
    INNER JOIN group_terms AS g ON g.hospital_level = h.hospital_level
    INNER JOIN aux_coefficients AS a ON a.payment_group = g.payment_group
),

valued AS (
    SELECT
        *,
        CASE WHEN apply_hospital_coefficient THEN hospital_coefficient
            ELSE CAST(1 AS DECIMAL(38, 4)) END * aux_coefficient AS coefficient
    FROM combined
),

standards AS (
    SELECT
        *,
        group_value * coefficient * basis_unit_value AS standard,
        CASE
            WHEN $outlier_basis = 'group_average' THEN CAST(average_cost AS DECIMAL(38, 18))
            ELSE group_value * coefficient * basis_unit_value
        END AS basis
    FROM valued
)

SELECT
    terms_id,
    hospital_id,
    insurance_type,
    payment_group,
    aux_type,
    payable_per_item,
    CAST(group_value AS DECIMAL(18, 6)) AS group_value,
    CAST(coefficient AS DECIMAL(18, 8)) AS coefficient,
    CAST(pay_unit_value AS DECIMAL(18, 4)) AS pay_unit_value,
    pay_unit_value = basis_unit_value AS pays_at_basis,
    CAST(round(standard, 2) AS DECIMAL(18, 2)) AS payment_standard,
    CAST(standard AS DOUBLE) AS standard_approx,
    dec18_to_int(basis) AS basis_int18,
    CAST(basis AS DOUBLE) AS basis_approx,
    CAST(group_value * coefficient AS DECIMAL(38, 16)) AS group_units_exact,
    CAST(round(group_value * coefficient, 4) AS DECIMAL(18, 4)) AS group_units,
    CAST(round(group_value * coefficient * pay_unit_value, 2) AS DECIMAL(18, 2))
        AS group_payment,
    CAST(CASE WHEN low_inclusive THEN floor(100 * low_multiple * basis)
        ELSE ceil(100 * low_multiple * basis) - 1 END
        * CAST(0.01 AS DECIMAL(38, 2)) AS DECIMAL(18, 2)) AS low_max,
    CAST(CASE WHEN high_inclusive THEN ceil(100 * high_multiple * basis)
        ELSE floor(100 * high_multiple * basis) + 1 END
        * CAST(0.01 AS DECIMAL(38, 2)) AS DECIMAL(18, 2)) AS high_min,
    CAST(CASE WHEN extreme_inclusive THEN ceil(100 * extreme_multiple * basis)
        ELSE floor(100 * extreme_multiple * basis) + 1 END
        * CAST(0.01 AS DECIMAL(38, 2)) AS DECIMAL(18, 2)) AS extreme_min,
    CAST(low_mode AS payment_mode) AS low_mode,
    low_apply_coefficient,
    CAST(high_mode AS payment_mode) AS high_mode,
    high_multiple,
    high_add_on_ratio,
    high_apply_coefficient,
    CAST(extreme_mode AS payment_mode) AS extreme_mode,
    extreme_multiple,
    extreme_add_on_ratio,
    extreme_apply_coefficient
FROM standards
