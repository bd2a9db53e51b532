-- hospital_settlement: per hospital, by month and by year of discharge, the claims' totals and
-- the settlement between fund and hospital.
--
-- balance = case payments - actual cost (fee-for-service). A surplus is retained by the hospital
-- and an overspend shared by the fund in marginal bands of |balance| / actual cost
-- (settlement_shares: share retained, 结余留用; share borne by the fund, 合理超支分担).
-- hospital_income = actual cost + retained surplus, or case payments + overspend borne by the
-- fund; fund_settlement = hospital_income - patient shares. Month rows are provisional (the year
-- row is the annual clearing); their additive columns sum exactly to the year row. Periods whose
-- actual cost is not positive get no sharing.
-- Reads: claim_payments, settlement_shares.
WITH by_month AS (
    SELECT
        hospital_id,
        date_trunc('month', discharge_date) AS month_start,
        count(*) AS claims,
        count(*) FILTER (WHERE case_class = 'NORMAL') AS normal_cases,
        count(*) FILTER (WHERE case_class = 'LOW') AS low_cases,
        count(*) FILTER (WHERE case_class IN ('HIGH', 'EXTREME')) AS high_cases,
        count(*) FILTER (WHERE per_item) AS per_item_cases,
        count(*) FILTER (WHERE special_review) AS special_review_cases,
        coalesce(sum(case_units), 0) AS total_units,
        sum(total_cost) AS total_cost,
        sum(fund_share) AS fund_share,
        sum(patient_share) AS patient_share,
        sum(case_payment) AS case_payment,
        sum(fund_payable) AS fund_payable
    FROM claim_payments
    GROUP BY hospital_id, month_start
),

monthly AS (
    SELECT
        hospital_id,
        strftime(month_start, '%Y-%m') AS period,
        year(month_start) AS settlement_year,
        * EXCLUDE (hospital_id, month_start)
    FROM by_month
),

yearly AS (
    SELECT
        hospital_id,
        CAST(settlement_year AS VARCHAR) AS period,
        sum(claims) AS claims,
        sum(normal_cases) AS normal_cases,
        sum(low_cases) AS low_cases,
        sum(high_cases) AS high_cases,
        sum(per_item_cases) AS per_item_cases,
        sum(special_review_cases) AS special_review_cases,
        sum(total_units) AS total_units,
        sum(total_cost) AS total_cost,
        sum(fund_share) AS fund_share,
        sum(patient_share) AS patient_share,
        sum(case_payment) AS case_payment,
        sum(fund_payable) AS fund_payable
    FROM monthly
    GROUP BY hospital_id, settlement_year
),

periods AS (
    SELECT 'month' AS period_kind, * EXCLUDE (settlement_year) FROM monthly
    UNION ALL
    SELECT 'year' AS period_kind, * FROM yearly
),

balanced AS (
    SELECT *, case_payment - total_cost AS balance
    FROM periods
),

banded AS (
    SELECT
        p.hospital_id,
        p.period_kind,
        p.period,
        s.direction,
        s.share * greatest(
            least(abs(p.balance), coalesce(s.band_to * p.total_cost, abs(p.balance)))
            - s.band_from * p.total_cost,
            0
        ) AS shared_amount
    FROM balanced AS p
    INNER JOIN settlement_shares AS s
        ON s.direction = CASE WHEN p.balance >= 0 THEN 'surplus' ELSE 'overspend' END
    WHERE p.total_cost > 0
),

shared AS (
    SELECT
        hospital_id,
        period_kind,
        period,
        round(coalesce(sum(shared_amount) FILTER (WHERE direction = 'surplus'), 0), 2)
            AS surplus_retained,
        round(coalesce(sum(shared_amount) FILTER (WHERE direction = 'overspend'), 0), 2)
            AS overspend_borne_by_fund
    FROM banded
    GROUP BY hospital_id, period_kind, period
),

settled AS (
    SELECT
        p.*,
        coalesce(s.surplus_retained, 0) AS surplus_retained,
        coalesce(s.overspend_borne_by_fund, 0) AS overspend_borne_by_fund
    FROM balanced AS p
    LEFT JOIN shared AS s
        ON s.hospital_id IS NOT DISTINCT FROM p.hospital_id
        AND s.period_kind = p.period_kind
        AND s.period = p.period
)

SELECT
    hospital_id,
    period_kind,
    period,
    CAST(claims AS BIGINT) AS claims,
    CAST(normal_cases AS BIGINT) AS normal_cases,
    CAST(low_cases AS BIGINT) AS low_cases,
    CAST(high_cases AS BIGINT) AS high_cases,
    CAST(per_item_cases AS BIGINT) AS per_item_cases,
    CAST(special_review_cases AS BIGINT) AS special_review_cases,
    CAST(total_units AS DECIMAL(18, 4)) AS total_units,
    CAST(total_cost AS DECIMAL(18, 2)) AS total_cost,
    CAST(fund_share AS DECIMAL(18, 2)) AS fund_share,
    CAST(patient_share AS DECIMAL(18, 2)) AS patient_share,
    CAST(case_payment AS DECIMAL(18, 2)) AS case_payment,
    CAST(fund_payable AS DECIMAL(18, 2)) AS fund_payable,
    CAST(balance AS DECIMAL(18, 2)) AS balance,
    CAST(CASE WHEN total_cost > 0 THEN round(exact_div(balance, total_cost), 4) END
        AS DECIMAL(18, 4)) AS balance_ratio,
    CAST(surplus_retained AS DECIMAL(18, 2)) AS surplus_retained,
    CAST(overspend_borne_by_fund AS DECIMAL(18, 2)) AS overspend_borne_by_fund,
    CAST(CASE WHEN balance >= 0 THEN total_cost + surplus_retained
        ELSE case_payment + overspend_borne_by_fund END AS DECIMAL(18, 2)) AS hospital_income,
    CAST(CASE WHEN balance >= 0 THEN total_cost + surplus_retained
        ELSE case_payment + overspend_borne_by_fund END - patient_share AS DECIMAL(18, 2))
        AS fund_settlement
FROM settled
ORDER BY hospital_id NULLS LAST, period_kind, period
