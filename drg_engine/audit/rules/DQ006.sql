SELECT
    CAST(NULL AS VARCHAR) AS claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'category ' || coalesce(nullif(k.category_local, ''), '(empty)') AS key,
    'data' AS grade,
    CAST(count(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS threshold,
    'fee category ' || coalesce(nullif(k.category_local, ''), '(empty)') || ' is not mapped: '
        || count(*) || ' line(s), net ' || round(sum(t.amount), 2) AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'unmapped_category', category: k.category_local, n_lines: count(*),
             net_amount: round(sum(t.amount), 2),
             examples: list_sort(list_distinct(list(t.item_name)))[1:5]}) AS evidence
FROM charge_typed AS t
JOIN category_lookup AS k ON k.category_raw = t.category_raw
JOIN claims_all AS c ON c.claim_id = t.claim_id
WHERE k.category IS NULL
GROUP BY c.hospital_id, k.category_local
