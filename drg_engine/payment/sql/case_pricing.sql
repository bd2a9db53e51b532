-- case_pricing: classify and price every claim, using its price terms (price_terms: the
-- standard, the outlier thresholds in fen and the outlier rules of its hospital, insurance
-- type, group and auxiliary type).
--
-- Classes, first match wins: REFUND (cost < 0, a reversal: paid per item), UNGROUPABLE (DRG
-- status other than SUCCESS, 0000 or xQY; DIP without group: paid per item at
-- $ungroupable_payment_ratio of cost), MISSING_WEIGHT / MISSING_AUX_COEFFICIENT (no parameter:
-- the caller stops or pays per item), NO_WEIGHT (a group without weight, paid per item),
-- EXTREME, HIGH, LOW (cost beyond multiple x basis; the rule's `inclusive` says whether the
-- boundary itself counts), NORMAL. Modes: group (the standard: units = value x coefficient),
-- ratio (units scaled by cost / basis; high: 1 + add_on x (cost / basis - multiple); the
-- coefficient only if the rule says so), review (special-review flag, the standard pending
-- review), per_item (the cost).
--
-- Ratio units are exact decimals (quotients exact to 1e-18); money is rounded once, to the
-- fen. When the unit value is only known after the benefit split ($units_exact_needed: DIP
-- point value from the budget), case_payment is left NULL and the exact units are kept for
-- claim_payments. An auxiliary type the set does not know for the group
-- ($known_aux_types: 'group|type' strings) is priced without it and flagged. Output in input
-- order (row_position). Reads: claims, price_terms.
WITH keyed AS (
    SELECT
        row_position,
        hospital_id,
        insurance_type,
        payment_group,
        status,
        total_cost,
        aux_type,
        CASE WHEN aux_type IS NOT NULL AND list_contains(
            CAST($known_aux_types AS VARCHAR[]), payment_group || '|' || aux_type)
            THEN aux_type END AS known_aux_type
    FROM claims
),

joined AS (
    SELECT
        c.row_position,
        c.total_cost,
        CASE
            WHEN $scheme = 'DRG' THEN coalesce(c.status, 'SUCCESS') <> 'SUCCESS'
                OR coalesce(c.payment_group, '0000') = '0000'
                OR c.payment_group LIKE '%QY'
            ELSE coalesce(c.payment_group, '') = ''
        END AS ungroupable,
        c.aux_type IS NOT NULL AND c.known_aux_type IS NULL AS aux_missing,
        p.payment_group IS NOT NULL AS has_terms,
        p.* EXCLUDE (hospital_id, insurance_type, payment_group, aux_type)
    FROM keyed AS c
    LEFT JOIN price_terms AS p
        ON p.hospital_id IS NOT DISTINCT FROM c.hospital_id
        AND p.insurance_type = c.insurance_type
        AND p.payment_group = c.payment_group
        AND p.aux_type IS NOT DISTINCT FROM c.known_aux_type
),

classified AS (
    SELECT
        *,
        CASE
            WHEN total_cost < 0 THEN 'REFUND'
            WHEN ungroupable THEN 'UNGROUPABLE'
            WHEN NOT has_terms THEN 'MISSING_WEIGHT'
            WHEN aux_missing THEN 'MISSING_AUX_COEFFICIENT'
            WHEN payable_per_item THEN 'NO_WEIGHT'
            WHEN total_cost >= extreme_min THEN 'EXTREME'
            WHEN total_cost >= high_min THEN 'HIGH'
            WHEN total_cost <= low_max THEN 'LOW'
            ELSE 'NORMAL'
        END AS case_class
    FROM joined
),

moded AS (
    SELECT
        *,
        CASE case_class
            WHEN 'NORMAL' THEN 'group'
            WHEN 'LOW' THEN low_mode
            WHEN 'HIGH' THEN high_mode
            WHEN 'EXTREME' THEN extreme_mode
            ELSE 'per_item'
        END AS payment_mode
    FROM classified
),

ratio_units AS (
    -- cost / basis only for the (few) claims paid by ratio
    SELECT
        *,
        CASE WHEN payment_mode = 'ratio' THEN CAST(
            CAST(group_value * CASE
                WHEN (CASE case_class WHEN 'LOW' THEN low_apply_coefficient
                    WHEN 'HIGH' THEN high_apply_coefficient
                    ELSE extreme_apply_coefficient END) THEN coefficient
                ELSE CAST(1 AS DECIMAL(18, 8)) END AS DECIMAL(38, 14))
            * CAST(CASE
                WHEN case_class = 'LOW' THEN exact_div(total_cost, basis)
                WHEN case_class = 'HIGH' THEN 1 - high_add_on_ratio * high_multiple
                    + high_add_on_ratio * exact_div(total_cost, basis)
                ELSE 1 - extreme_add_on_ratio * extreme_multiple
                    + extreme_add_on_ratio * exact_div(total_cost, basis)
            END AS DECIMAL(38, 16))
            AS DECIMAL(38, 16)) END AS ratio_units_exact
    FROM moded
)

SELECT
    row_position,
    CAST(case_class AS case_class) AS case_class,
    CAST(payment_mode AS payment_mode) AS payment_mode,
    payment_mode = 'per_item' AS per_item,
    payment_mode = 'review' AS special_review,
    group_value,
    coefficient,
    pay_unit_value,
    payment_standard,
    CASE WHEN basis_approx > 0 THEN CAST(total_cost AS DOUBLE) / basis_approx END AS cost_ratio,
    CASE
        WHEN payment_mode IN ('group', 'review') THEN group_units
        WHEN payment_mode = 'ratio'
            THEN round_units(ratio_units_exact, CAST(ratio_units_exact AS DOUBLE))
    END AS case_units,
    CASE WHEN $units_exact_needed THEN CASE
        WHEN payment_mode IN ('group', 'review') THEN group_units_exact
        WHEN payment_mode = 'ratio' THEN ratio_units_exact
    END END AS case_units_exact,
    CASE
        WHEN payment_mode = 'per_item' AND case_class = 'UNGROUPABLE' THEN round(CAST(
            total_cost * CAST($ungroupable_payment_ratio AS DECIMAL(18, 4)) AS DECIMAL(18, 6)), 2)
        WHEN payment_mode = 'per_item' THEN total_cost
        WHEN pay_unit_value IS NULL THEN NULL
        WHEN payment_mode IN ('group', 'review') AND pays_at_basis THEN payment_standard
        WHEN payment_mode IN ('group', 'review') THEN group_payment
        ELSE round_money(
            ratio_units_exact * pay_unit_value,
            CAST(ratio_units_exact AS DOUBLE) * CAST(pay_unit_value AS DOUBLE))
    END AS case_payment
FROM ratio_units
ORDER BY row_position
