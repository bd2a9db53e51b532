WITH per_claim AS (
    SELECT claim_id,
           sum(amount) FILTER (WHERE day_index >= span_days) AS discharge_day_amount,
           sum(amount) AS amount
    FROM charge_lines
    WHERE has_claim AND parsed AND class = 'substantive' AND NOT is_discharge_med
      AND span_days >= $min_span_days
    GROUP BY claim_id
),
per_hospital AS (
    SELECT c.hospital_id, count(*) AS n_stays,
           sum(p.discharge_day_amount) AS discharge_day_amount, sum(p.amount) AS amount
    FROM per_claim AS p
    JOIN claims_all AS c ON c.claim_id = p.claim_id
    GROUP BY c.hospital_id
),
shares AS (
    SELECT *, coalesce(discharge_day_amount, 0) / nullif(amount, 0) AS share
    FROM per_hospital
)
SELECT
    CAST(NULL AS VARCHAR) AS claim_id,
    hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'posting' AS key,
    'data' AS grade,
    round(share, 4) AS value,
    $max_discharge_day_share AS threshold,
    round(100 * share, 1) || '% of substantive charges are dated on the discharge day ('
        || n_stays || ' stays); day-level rules are exempted for this hospital' AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'posting', share: round(share, 4), n_stays: n_stays,
             peer_median_share: round((SELECT median(share) FROM shares), 4)}) AS evidence
FROM shares
WHERE n_stays >= $min_stays AND share > $max_discharge_day_share
