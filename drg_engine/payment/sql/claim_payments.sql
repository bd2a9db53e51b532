-- claim_payments: the computed columns of the per-claim payment table, with row_position (the
-- caller puts them back in input order, beside the claim's own columns and the fund's layers
-- from benefit_split). Money is rounded once, to the fen.
--
-- case_payment is what the scheme pays for the case in total (DRG/DIP units x unit value, or
-- the per-item amount); the patient's share comes from the benefit split; fund_payable =
-- case_payment - patient_share is what the fund owes the hospital for the case (付费标准 -
-- 个人负担); case_balance = case_payment - total_cost is the hospital's surplus (+) or loss (-).
-- Claims priced before the unit value was known (DIP point value from the fund budget) are
-- paid at the value for their insurance type: $computed_unit_values[i] for the type
-- $computed_insurance_types[i] (empty lists when the tables give the unit value).
-- The split: in-policy cost (the total cost when not given) less the stay's deductible, copay
-- and the fund's layers (from benefit_split); the rest of the total cost is out of policy.
-- Reads: priced (case_pricing, which carries the claim's cost, deductible and fund layers), row
-- by row.
WITH joined AS (
    SELECT
        * EXCLUDE (in_policy_cost, deductible),
        coalesce(in_policy_cost, total_cost) AS in_policy_cost,
        stay_deductible(coalesce(in_policy_cost, total_cost), deductible) AS deductible_paid,
        CASE WHEN case_payment IS NULL THEN CAST(list_extract(
            CAST($computed_unit_values AS VARCHAR[]),
            list_position(CAST($computed_insurance_types AS VARCHAR[]), insurance_type)
        ) AS DECIMAL(18, 4)) END AS computed_unit_value
    FROM priced
),

paid AS (
    SELECT
        *,
        coalesce(pay_unit_value, computed_unit_value) AS unit_value,
        coalesce(
            case_payment,
            round_money(
                case_units_exact * computed_unit_value,
                CAST(case_units_exact AS DOUBLE) * CAST(computed_unit_value AS DOUBLE)
            )
        ) AS final_payment,
        total_cost - fund_share AS patient_share
    FROM joined
)

SELECT
    row_position,
    hospital_level,
    case_class,
    payment_mode,
    per_item,
    special_review,
    group_value,
    coefficient,
    unit_value,
    payment_standard,
    cost_ratio,
    case_units,
    final_payment AS case_payment,
    in_policy_cost,
    CAST(total_cost - in_policy_cost AS DECIMAL(18, 2)) AS out_of_policy_cost,
    deductible_paid,
    CAST(in_policy_cost - deductible_paid - fund_share AS DECIMAL(18, 2)) AS copay,
    CAST(patient_share AS DECIMAL(18, 2)) AS patient_share,
    CAST(final_payment - patient_share AS DECIMAL(18, 2)) AS fund_payable,
    CAST(final_payment - total_cost AS DECIMAL(18, 2)) AS case_balance
FROM paid
