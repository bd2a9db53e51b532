-- Report summaries: per hospital (with the flagged-stay rate against same-level peers and data
-- caveats), per discharge month and family (the trend), per rule.
CREATE OR REPLACE TABLE hospital_summary AS
WITH claims_h AS (
    SELECT hospital_id, any_value(hospital_level) AS hospital_level, count(*) AS claims,
           round(sum(stay_payment), 2) AS fund_payment
    FROM claims_all WHERE hospital_id IS NOT NULL GROUP BY hospital_id
),
open_f AS (
    SELECT hospital_id, count(*) AS findings,
           count(*) FILTER (WHERE grade = 'suspect') AS suspects,
           count(DISTINCT claim_id) AS flagged_claims,
           round(sum(amount_at_risk), 2) AS amount_at_risk,
           list(DISTINCT rule_code ORDER BY rule_code) AS rules
    FROM findings WHERE status = 'open' AND hospital_id IS NOT NULL GROUP BY hospital_id
),
exempt_f AS (
    SELECT hospital_id, count(*) AS exempted
    FROM findings WHERE status = 'exempted' AND hospital_id IS NOT NULL GROUP BY hospital_id
),
dq AS (
    SELECT hospital_id, count(*) AS dq_findings,
           list(DISTINCT rule_code ORDER BY rule_code) AS dq_rules
    FROM dq_findings WHERE hospital_id IS NOT NULL GROUP BY hospital_id
),
blocked AS (
    SELECT c.hospital_id, count(DISTINCT b.claim_id) AS blocked_claims
    FROM dq_blocked AS b JOIN claims_all AS c ON c.claim_id = b.claim_id
    GROUP BY c.hospital_id
),
base AS (
    SELECT
        h.hospital_id, m.hospital_name, h.hospital_level, m.approved_beds, h.claims,
        h.fund_payment,
        coalesce(o.findings, 0) AS findings, coalesce(o.suspects, 0) AS suspects,
        coalesce(o.flagged_claims, 0) AS flagged_claims,
        coalesce(o.amount_at_risk, 0) AS amount_at_risk, coalesce(o.rules, []) AS rules,
        coalesce(e.exempted, 0) AS exempted,
        coalesce(d.dq_findings, 0) AS dq_findings, coalesce(d.dq_rules, []) AS dq_rules,
        coalesce(b.blocked_claims, 0) AS blocked_claims,
        coalesce(o.flagged_claims, 0) / h.claims AS flagged_rate,
        r.rate AS cc_rate, r.peer_rate AS cc_peer_rate, r.ratio AS cc_ratio, r.z AS cc_z
    FROM claims_h AS h
    LEFT JOIN hospitals AS m ON m.hospital_id = h.hospital_id
    LEFT JOIN open_f AS o ON o.hospital_id = h.hospital_id
    LEFT JOIN exempt_f AS e ON e.hospital_id = h.hospital_id
    LEFT JOIN dq AS d ON d.hospital_id = h.hospital_id
    LEFT JOIN blocked AS b ON b.hospital_id = h.hospital_id
    LEFT JOIN hospital_cc_rates AS r ON r.hospital_id = h.hospital_id
)
SELECT
    *,
    median(flagged_rate) OVER (PARTITION BY hospital_level) AS peer_flagged_rate,
    list_filter([
        CASE WHEN blocked_claims > $caveat_blocked_share * claims
             THEN round(100 * blocked_claims / claims, 1)
                  || '% of claims held back by data-quality checks' END,
        CASE WHEN list_contains(dq_rules, 'DQ009')
             THEN 'charges posted in batches: day-level hanging-bed rules exempted' END,
        CASE WHEN list_contains(dq_rules, 'DQ006')
             THEN 'fee categories not mapped to the national 14' END,
        CASE WHEN list_contains(dq_rules, 'DQ010')
             THEN 'hospital master incomplete: census check not possible' END
    ], lambda x: x IS NOT NULL) AS caveats
FROM base
ORDER BY amount_at_risk DESC, findings DESC, hospital_id;

CREATE OR REPLACE TABLE monthly_summary AS
WITH months AS (
    SELECT month, count(*) AS claims FROM claims_all WHERE month IS NOT NULL GROUP BY month
)
SELECT m.month, m.claims, f.family,
       coalesce(f.findings, 0) AS findings, coalesce(f.suspects, 0) AS suspects,
       coalesce(f.amount_at_risk, 0) AS amount_at_risk
FROM months AS m
LEFT JOIN (
    SELECT month, family, count(*) AS findings,
           count(*) FILTER (WHERE grade = 'suspect') AS suspects,
           round(sum(amount_at_risk), 2) AS amount_at_risk
    FROM findings WHERE status = 'open' AND month IS NOT NULL
    GROUP BY month, family
) AS f ON f.month = m.month
ORDER BY m.month, f.family;
