SELECT
    CAST(NULL AS VARCHAR) AS claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    CASE WHEN h.hospital_id IS NULL THEN 'not-in-master' ELSE 'no-beds' END AS key,
    'data' AS grade,
    CAST(count(*) AS DOUBLE) AS value,
    CAST(NULL AS DOUBLE) AS threshold,
    CASE WHEN h.hospital_id IS NULL THEN 'hospital not in the hospital master'
         ELSE 'approved beds missing in the hospital master' END
        || ' (' || count(*) || ' claims); census check not possible' AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'master', n_claims: count(*), in_master: h.hospital_id IS NOT NULL}) AS evidence
FROM claims_all AS c
LEFT JOIN hospitals AS h ON h.hospital_id = c.hospital_id
WHERE c.hospital_id IS NOT NULL AND (h.hospital_id IS NULL OR h.approved_beds IS NULL)
GROUP BY c.hospital_id, h.hospital_id
