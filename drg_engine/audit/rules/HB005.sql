WITH days AS (
    SELECT claim_key AS claim_id, d, {a: signature_amount, q: signature_quantity} AS signature
    FROM day_amounts
    WHERE d > 0 AND d < span_days AND substantive_lines >= $min_day_lines
),
marked AS (
    SELECT *,
           CASE WHEN lag(signature) OVER w = signature AND lag(d) OVER w = d - 1
                THEN 0 ELSE 1 END AS starts_run
    FROM days
    WINDOW w AS (PARTITION BY claim_id ORDER BY d)
),
numbered AS (
    SELECT *, sum(starts_run) OVER (PARTITION BY claim_id ORDER BY d) AS run_id
    FROM marked
),
runs AS (
    SELECT claim_id, run_id, min(d) AS start_d, max(d) AS end_d, count(*) AS days
    FROM numbered
    GROUP BY claim_id, run_id
    HAVING count(*) >= $min_identical_days
),
keyed AS (
    SELECT k.claim_id, r.start_d, r.end_d, r.days
    FROM runs AS r JOIN charge_claims AS k ON k.claim_key = r.claim_id
),
per_claim AS (
    SELECT claim_id, list({start_day: start_d, end_day: end_d, days: days} ORDER BY start_d)
               AS runs,
           max(days) AS longest, sum(days) AS templated_days
    FROM keyed
    GROUP BY claim_id
),
repeated_days AS (
    SELECT claim_id, unnest(range(start_d + 1, end_d + 1)) AS d FROM keyed
),
repeated_lines AS (
    SELECT l.claim_id, list({line_id: l.line_id, amount: l.fund_amount} ORDER BY l.line_id)
               AS lines,
           sum(l.fund_amount) AS amount
    FROM charges AS l
    SEMI JOIN repeated_days AS r ON r.claim_id = l.claim_id AND r.d = l.day_index
    WHERE l.class = 'substantive'
    GROUP BY l.claim_id
)
SELECT
    p.claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    array_to_string(list_transform(p.runs, lambda r: 'd' || r.start_day || '-d' || r.end_day), ';')
        AS key,
    'clue' AS grade,
    CAST(p.longest AS DOUBLE) AS value,
    CAST($min_identical_days AS DOUBLE) AS threshold,
    p.templated_days || ' interior days in identical runs; longest ' || p.longest
        || ' consecutive days with the same items, quantities and amounts' AS message,
    coalesce(r.amount, 0) AS amount,
    r.lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'templated_days', runs: p.runs, templated_days: p.templated_days}) AS evidence
FROM per_claim AS p
JOIN claims AS c ON c.claim_id = p.claim_id
LEFT JOIN repeated_lines AS r ON r.claim_id = p.claim_id
