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
-- ($known_aux_types: 'group|type' strings) is priced without it and flagged.
--
-- The claims come with benefit_split's columns beside them (one Arrow table): their
-- hospital_terms row (terms_id) and the fund's layers of their split. Those, the claim's cost,
-- insurance type and in-policy cost and its hospital's deductible are carried through for
-- claim_payments. Output in no particular order (the lookups are joins), with row_position.
-- Reads: split_claims, hospital_terms, price_terms.
WITH keyed AS (
    SELECT
        c.row_position,
        c.terms_id,
        c.insurance_type,
        c.payment_group,
        c.status,
        c.total_cost,
        c.aux_type,
        CASE WHEN c.aux_type IS NOT NULL AND list_contains(
            CAST($known_aux_types AS VARCHAR[]), c.payment_group || '|' || c.aux_type)
            THEN c.aux_type END AS known_aux_type,
        c.in_policy_cost,
        c.basic_fund_paid,
        c.serious_illness_paid,
        c.fund_share
    FROM split_claims AS c
),

joined AS (
    SELECT
        c.* EXCLUDE (terms_id, payment_group, status, aux_type, known_aux_type),
        h.hospital_level,
        h.deductible,
        CASE
            WHEN $scheme = 'DRG' THEN coalesce(c.status, 'SUCCESS') <> 'SUCCESS'
                OR coalesce(c.payment_group, '0000') = '0000'
                OR c.payment_group LIKE '%QY'
            ELSE coalesce(c.payment_group, '') = ''
        END AS ungroupable,
        c.aux_type IS NOT NULL AND c.known_aux_type IS NULL AS aux_missing,
        p.payment_group IS NOT NULL AS has_terms,
        p.* EXCLUDE (terms_id, hospital_id, insurance_type, payment_group, aux_type)
    FROM keyed AS c
    INNER JOIN hospital_terms AS h ON h.terms_id = c.terms_id
    LEFT JOIN price_terms AS p
        ON p.terms_id = c.terms_id
        AND p.payment_group = c.payment_group
        -- no auxiliary type is '' (an empty cell is no value): '' stands for none, as equality
        -- joins faster than IS NOT DISTINCT FROM
        AND coalesce(p.aux_type, '') = coalesce(c.known_aux_type, '')
),

classified AS (
    SELECT
        *,
        CASE
            WHEN total_cost < 0 THEN 'REFUND'::case_class
            WHEN ungroupable THEN 'UNGROUPABLE'::case_class
            WHEN NOT has_terms THEN 'MISSING_WEIGHT'::case_class
            WHEN aux_missing THEN 'MISSING_AUX_COEFFICIENT'::case_class
            WHEN payable_per_item THEN 'NO_WEIGHT'::case_class
            WHEN total_cost >= extreme_min THEN 'EXTREME'::case_class
            WHEN total_cost >= high_min THEN 'HIGH'::case_class
            WHEN total_cost <= low_max THEN 'LOW'::case_class
            ELSE 'NORMAL'::case_class
        END AS case_class
    FROM joined
),

moded AS (
    SELECT
        *,
        CASE case_class
            WHEN 'NORMAL' THEN 'group'::payment_mode
            WHEN 'LOW' THEN low_mode
            WHEN 'HIGH' THEN high_mode
            WHEN 'EXTREME' THEN extreme_mode
            ELSE 'per_item'::payment_mode
        END AS payment_mode
    FROM classified
),

ratio_units AS (
    -- cost / basis, exact, only for the (few) claims paid by ratio
    SELECT
        *,
        CASE WHEN payment_mode = 'ratio' THEN CAST(
            CAST(group_value * CASE
                WHEN (CASE case_class WHEN 'LOW' THEN low_apply_coefficient
                    WHEN 'HIGH' THEN high_apply_coefficient
                    ELSE extreme_apply_coefficient END) THEN coefficient
                ELSE CAST(1 AS DECIMAL(18, 8)) END AS DECIMAL(38, 14))
            * CAST(CASE
                WHEN case_class = 'LOW' THEN cost_over_basis
                WHEN case_class = 'HIGH' THEN 1 - high_add_on_ratio * high_multiple
                    + high_add_on_ratio * cost_over_basis
                ELSE 1 - extreme_add_on_ratio * extreme_multiple
                    + extreme_add_on_ratio * cost_over_basis
            END AS DECIMAL(38, 16))
            AS DECIMAL(38, 16)) END AS ratio_units_exact
    FROM (
        SELECT
            *,
            CASE WHEN payment_mode = 'ratio'
                THEN int_quotient18(dec18_to_int(total_cost), basis_int18) END AS cost_over_basis
        FROM moded
    )
)

SELECT
    row_position,
    insurance_type,
    total_cost,
    hospital_level,
    in_policy_cost,
    deductible,
    basic_fund_paid,
    serious_illness_paid,
    fund_share,
    case_class,
    payment_mode,
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
