-- settlement_unit_values: the unit value computed from the year's fund budget (DIP settlement
-- point value 结算点值; or a floating DRG rate):
--
--   unit value = (fund budget / fund payment ratio) / total units
--
-- where total units is the sum of the case units (scores / weights, 4 places as reported) of
-- the claims paid in units (per-item claims are outside the score total), and the fund payment
-- ratio is the budget row's, or else the fund share / total cost of those claims. A budget row
-- covers one insurance type, or every type when its insurance_type is empty. The value is
-- rounded to 4 places, as published, and that rounded value prices the claims.
-- Reads: claims, priced (case_pricing, with each claim's cost and fund share), fund_budget.
WITH scored AS (
    SELECT
        b.insurance_type AS budget_scope,
        b.fund_budget,
        b.fund_payment_ratio,
        p.total_cost,
        p.fund_share,
        p.case_units
    FROM priced AS p
    INNER JOIN fund_budget AS b
        ON b.insurance_type IS NULL OR b.insurance_type = p.insurance_type
    WHERE NOT p.per_item
),

totals AS (
    SELECT
        budget_scope,
        any_value(fund_budget) AS fund_budget,
        any_value(fund_payment_ratio) AS configured_ratio,
        count(*) AS scored_claims,
        sum(case_units) AS total_units,
        sum(fund_share) AS fund_recorded,
        sum(total_cost) AS total_cost
    FROM scored
    GROUP BY budget_scope
),

ratios AS (
    SELECT
        *,
        coalesce(
            CAST(configured_ratio AS DECIMAL(38, 18)), exact_div(fund_recorded, total_cost)
        ) AS fund_payment_ratio
    FROM totals
),

types AS (
    SELECT DISTINCT insurance_type
    FROM claims
)

SELECT
    t.insurance_type,
    r.budget_scope,
    r.fund_budget,
    r.scored_claims,
    r.total_units,
    r.total_cost,
    r.fund_recorded,
    CAST(round(r.fund_payment_ratio, 6) AS DECIMAL(18, 6)) AS fund_payment_ratio,
    r.configured_ratio IS NULL AS ratio_from_claims,
    CAST(round(exact_div(exact_div(r.fund_budget, r.fund_payment_ratio), r.total_units), 4)
        AS DECIMAL(38, 4)) AS unit_value
FROM types AS t
INNER JOIN ratios AS r ON r.budget_scope IS NULL OR r.budget_scope = t.insurance_type
ORDER BY t.insurance_type
