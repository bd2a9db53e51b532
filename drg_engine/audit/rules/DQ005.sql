SELECT
    claim_id,
    CAST(NULL AS VARCHAR) AS hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'orphan' AS key,
    'data' AS grade,
    CAST(count(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS threshold,
    count(*) || ' charge line(s) for unknown stay ' || claim_id || ', net '
        || round(sum(amount), 2) AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'orphan_lines', n_lines: count(*), net_amount: round(sum(amount), 2),
             first_date: min(service_date), last_date: max(service_date)}) AS evidence
FROM charge_typed
ANTI JOIN claims_all AS c ON c.claim_id = charge_typed.claim_id
GROUP BY claim_id
