WITH marks AS (
    -- substantive days plus the admission and discharge days as boundaries: every gap between
    -- two consecutive marks is a run of empty interior days
    SELECT claim_key, d, span_days FROM busy_days WHERE d > 0 AND d < span_days
    UNION ALL
    SELECT claim_key, 0, span_days FROM charge_claims
    UNION ALL
    SELECT claim_key, span_days, span_days FROM charge_claims WHERE span_days > 0
),
gaps AS (
    SELECT claim_key, span_days, d + 1 AS start_d,
           lead(d) OVER (PARTITION BY claim_key ORDER BY d) - 1 AS end_d
    FROM marks
),
keyed_runs AS (
    SELECT k.claim_id, g.claim_key, g.span_days, g.start_d, g.end_d,
           g.end_d - g.start_d + 1 AS days
    FROM gaps AS g
    JOIN charge_claims AS k ON k.claim_key = g.claim_key
    WHERE g.end_d - g.start_d + 1 >= $min_empty_run
),
runs AS (
    SELECT * FROM keyed_runs
),
qualifying AS (
    SELECT r.*,
           (r.days <= $preop_max_wait_days AND coalesce(s.surgery_amount, 0) > 0) AS is_preop
    FROM runs AS r
    LEFT JOIN busy_days AS s ON s.claim_key = r.claim_key AND s.d = r.end_d + 1
    WHERE r.days >= $min_empty_run
),
per_claim AS (
    SELECT
        q.claim_id,
        any_value(q.span_days) AS span_days,
        list({start_day: q.start_d, end_day: q.end_d, days: q.days, preop: q.is_preop}
             ORDER BY q.start_d) AS runs,
        max(q.days) FILTER (WHERE NOT q.is_preop) AS longest,
        max(q.days) AS longest_any,
        bool_and(q.is_preop) AS all_preop
    FROM qualifying AS q
    GROUP BY q.claim_id
),
empty_totals AS (
    SELECT k.claim_id, sum(g.end_d - g.start_d + 1) AS empty_days
    FROM gaps AS g
    JOIN charge_claims AS k ON k.claim_key = g.claim_key
    SEMI JOIN per_claim AS p ON p.claim_id = k.claim_id
    WHERE g.end_d >= g.start_d
    GROUP BY k.claim_id
),
flagged_days AS (
    SELECT claim_id, unnest(range(r.start_day, r.end_day + 1)) AS d
    FROM (SELECT claim_id, all_preop, unnest(runs) AS r FROM per_claim)
    WHERE NOT r.preop OR all_preop
),
flagged_lines AS (
    SELECT l.claim_id, list({line_id: l.line_id, amount: l.fund_amount} ORDER BY l.line_id)
               AS lines,
           sum(l.fund_amount) AS amount
    FROM charges AS l
    SEMI JOIN flagged_days AS f ON f.claim_id = l.claim_id AND f.d = l.day_index
    GROUP BY l.claim_id
)
SELECT
    p.claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    array_to_string(list_transform(
        list_filter(p.runs, lambda r: NOT r.preop OR p.all_preop),
        lambda r: 'd' || r.start_day || '-d' || r.end_day), ';') AS key,
    CASE WHEN e.empty_days >= $strong_empty_share * (p.span_days - 1)
              AND c.los_days >= $strong_min_los THEN 'suspect' ELSE 'clue' END AS grade,
    CAST(coalesce(p.longest, p.longest_any) AS DOUBLE) AS value,
    CAST($min_empty_run AS DOUBLE) AS threshold,
    e.empty_days || ' of ' || (p.span_days - 1) || ' interior days have hotel charges only; '
        || 'longest run ' || coalesce(p.longest, p.longest_any) || ' days' AS message,
    coalesce(fl.amount, 0) AS amount,
    fl.lines,
    CASE WHEN p.all_preop THEN 'pre-operative-wait' END AS exemption,
    CASE WHEN p.all_preop THEN 'every empty run ends the day before an operation' END
        AS exemption_reason,
    to_json({kind: 'empty_days', runs: p.runs, empty_days: e.empty_days,
             interior_days: p.span_days - 1,
             empty_share: round(e.empty_days / greatest(p.span_days - 1, 1), 3)}) AS evidence
FROM per_claim AS p
JOIN claims AS c ON c.claim_id = p.claim_id
JOIN empty_totals AS e ON e.claim_id = p.claim_id
LEFT JOIN flagged_lines AS fl ON fl.claim_id = p.claim_id
