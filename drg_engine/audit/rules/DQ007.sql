SELECT
    claim_id,
    any_value(c_hospital) AS hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'unreadable' AS key,
    'data' AS grade,
    CAST(count(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS threshold,
    count(*) || ' charge line(s) with an unreadable date, amount or quantity' AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'unreadable_lines', line_ids: list_sort(list(line_id))[1:20]}) AS evidence
FROM (
    SELECT l.claim_id, l.line_id, c.hospital_id AS c_hospital
    FROM charge_lines AS l
    JOIN claims_all AS c ON c.claim_id = l.claim_id
    WHERE NOT l.parsed
)
GROUP BY claim_id
