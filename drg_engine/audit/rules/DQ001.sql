SELECT
    r.claim_id,
    CAST(NULL AS VARCHAR) AS hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    r.reason_code || ':' || coalesce(r.claim_id, 'row ' || r.row_number) AS key,
    'data' AS grade,
    CAST(r.row_number AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS threshold,
    'input row ' || r.row_number || ' rejected: ' || r.reason_code || ' (' || r.field || '): '
        || r.message AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'reject', row_number: r.row_number, field: r.field,
             reason_code: r.reason_code, message: r.message}) AS evidence
FROM claim_rejects AS r
