-- reconciliation: the identities the payment tables must satisfy. Every *_mismatches count
-- must be 0:
--   per claim: fund_share + patient_share = total_cost; out-of-policy + deductible + copay +
--   fund_share = total_cost; basic fund + serious illness = fund_share; fund_payable =
--   case_payment - patient_share;
--   overall: the year rows of the settlement add up to the claims' totals, and for every
--   hospital and year the month rows add up to the year row.
-- (Each hospital's rows are sums of its claims by construction, one GROUP BY; the tests check
-- that per hospital as well.) Reads: claim_payments, hospital_settlement.
WITH claim_identities AS (
    SELECT
        count(*) AS claims,
        count(*) FILTER (WHERE fund_share + patient_share <> total_cost) AS split_mismatches,
        count(*) FILTER (
            WHERE out_of_policy_cost + deductible_paid + copay + fund_share <> total_cost
        ) AS component_mismatches,
        count(*) FILTER (WHERE basic_fund_paid + serious_illness_paid <> fund_share)
            AS layer_mismatches,
        count(*) FILTER (WHERE fund_payable <> case_payment - patient_share)
            AS payable_mismatches,
        count(*) FILTER (WHERE case_payment IS NULL) AS unpriced_claims,
        coalesce(sum(total_cost), 0) AS total_cost,
        coalesce(sum(fund_share), 0) AS fund_share,
        coalesce(sum(patient_share), 0) AS patient_share,
        coalesce(sum(case_payment), 0) AS case_payment,
        coalesce(sum(fund_payable), 0) AS fund_payable
    FROM claim_payments
),

year_totals AS (
    SELECT
        coalesce(sum(claims), 0) AS claims,
        coalesce(sum(total_cost), 0) AS total_cost,
        coalesce(sum(fund_share), 0) AS fund_share,
        coalesce(sum(patient_share), 0) AS patient_share,
        coalesce(sum(case_payment), 0) AS case_payment,
        coalesce(sum(fund_payable), 0) AS fund_payable
    FROM hospital_settlement
    WHERE period_kind = 'year'
),

months_by_year AS (
    SELECT
        hospital_id,
        left(period, 4) AS period,
        sum(claims) AS claims,
        sum(total_cost) AS total_cost,
        sum(fund_share) AS fund_share,
        sum(patient_share) AS patient_share,
        sum(case_payment) AS case_payment,
        sum(fund_payable) AS fund_payable
    FROM hospital_settlement
    WHERE period_kind = 'month'
    GROUP BY ALL
),

month_checks AS (
    SELECT count(*) FILTER (
        WHERE m.claims IS DISTINCT FROM y.claims
        OR m.total_cost IS DISTINCT FROM y.total_cost
        OR m.fund_share IS DISTINCT FROM y.fund_share
        OR m.patient_share IS DISTINCT FROM y.patient_share
        OR m.case_payment IS DISTINCT FROM y.case_payment
        OR m.fund_payable IS DISTINCT FROM y.fund_payable
    ) AS month_year_mismatches
    FROM months_by_year AS m
    FULL OUTER JOIN (
        SELECT * FROM hospital_settlement WHERE period_kind = 'year'
    ) AS y
        ON y.hospital_id IS NOT DISTINCT FROM m.hospital_id AND y.period = m.period
)

SELECT
    c.* EXCLUDE (fund_payable),
    CAST(
        (c.claims <> t.claims) OR (c.total_cost <> t.total_cost)
        OR (c.fund_share <> t.fund_share) OR (c.patient_share <> t.patient_share)
        OR (c.case_payment <> t.case_payment) OR (c.fund_payable <> t.fund_payable)
        AS INTEGER
    ) AS settlement_total_mismatches,
    m.month_year_mismatches
FROM claim_identities AS c
CROSS JOIN year_totals AS t
CROSS JOIN month_checks AS m
