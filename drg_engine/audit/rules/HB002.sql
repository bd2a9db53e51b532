WITH idle AS (
    SELECT k.claim_id, k.claim_key, k.span_days
    FROM charge_claims AS k
    ANTI JOIN (SELECT DISTINCT claim_key FROM busy_days WHERE d >= 0 AND d < $idle_days) AS b
        ON b.claim_key = k.claim_key
    WHERE k.span_days >= $min_span_days
),
next_days AS (
    SELECT i.claim_id,
           min(b.d) AS first_substantive_day,
           min(b.d) FILTER (WHERE b.surgery_amount > 0) AS first_surgery_day
    FROM busy_days AS b
    JOIN idle AS i ON i.claim_key = b.claim_key
    WHERE b.d >= 0
    GROUP BY i.claim_id
),
idle_lines AS (
    SELECT l.claim_id, list({line_id: l.line_id, amount: l.fund_amount} ORDER BY l.line_id)
               AS lines,
           sum(l.fund_amount) AS amount
    FROM charges AS l
    SEMI JOIN idle AS i ON i.claim_id = l.claim_id
    WHERE l.day_index >= 0 AND l.day_index < $idle_days
    GROUP BY l.claim_id
)
SELECT
    f.claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'd0-d' || ($idle_days - 1) AS key,
    'clue' AS grade,
    CAST(coalesce(n.first_substantive_day, f.span_days + 1) AS DOUBLE) AS value,
    CAST($idle_days AS DOUBLE) AS threshold,
    'no substantive charge on days 0-' || ($idle_days - 1) || '; first substantive day '
        || coalesce('d' || n.first_substantive_day, 'none') AS message,
    coalesce(i.amount, 0) AS amount,
    i.lines,
    CASE WHEN n.first_surgery_day BETWEEN $idle_days AND $preop_surgery_by_day
         THEN 'pre-operative-wait' END AS exemption,
    CASE WHEN n.first_surgery_day BETWEEN $idle_days AND $preop_surgery_by_day
         THEN 'operation on day ' || n.first_surgery_day END AS exemption_reason,
    to_json({kind: 'idle_start', idle_days: range(0, $idle_days),
             first_substantive_day: n.first_substantive_day,
             first_surgery_day: n.first_surgery_day}) AS evidence
FROM idle AS f
JOIN claims AS c ON c.claim_id = f.claim_id
LEFT JOIN next_days AS n ON n.claim_id = f.claim_id
LEFT JOIN idle_lines AS i ON i.claim_id = f.claim_id
