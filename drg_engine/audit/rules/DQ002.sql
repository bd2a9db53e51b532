SELECT
    claim_id,
    hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    status || '/' || coalesce(drg, '') AS key,
    'data' AS grade,
    CAST(NULL AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS threshold,
    'not grouped: status ' || status || coalesce(' (' || reason || ')', '') AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'grouping', status: status, reason: reason, diagnoses: diagnoses,
             procedures: procedures}) AS evidence
FROM (
    SELECT c.*, i.reason
    FROM claims_all AS c
    JOIN (SELECT CAST(claim_id AS VARCHAR) AS claim_id, CAST(reason AS VARCHAR) AS reason
          FROM input_claims) AS i ON i.claim_id = c.claim_id
    WHERE c.status IS DISTINCT FROM 'SUCCESS'
)
