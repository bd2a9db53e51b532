SELECT
    l.claim_id,
    any_value(c.hospital_id) AS hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'refunds' AS key,
    'data' AS grade,
    CAST(count(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS threshold,
    count(*) || ' refund line(s) without a matching original line, net '
        || round(sum(l.amount), 2) AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'unlinked_refunds', line_ids: list_sort(list(l.line_id))[1:20],
             net_amount: round(sum(l.amount), 2)}) AS evidence
FROM charge_lines AS l
JOIN claims_all AS c ON c.claim_id = l.claim_id
WHERE l.parsed AND (l.amount < 0 OR l.quantity < 0) AND NOT l.has_original
GROUP BY l.claim_id
