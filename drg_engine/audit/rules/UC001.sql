WITH top_adrgs AS (
    SELECT hospital_id,
           list({adrg: adrg, n: n, cc: k, hospital_rate: round(k / n, 3),
                 peer_rate: round(peer_rate, 3)}
                ORDER BY k - n * peer_rate DESC, adrg)[1:8] AS adrgs
    FROM cc_peer_rates
    WHERE peer_rate IS NOT NULL
    GROUP BY hospital_id
),
trend AS (
    SELECT hospital_id,
           list({month: month, n: n, observed: observed, expected: round(expected, 1)}
                ORDER BY month) AS months
    FROM hospital_cc_monthly
    GROUP BY hospital_id
)
SELECT
    CAST(NULL AS VARCHAR) AS claim_id,
    r.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'cc-rate' AS key,
    CASE WHEN r.z >= $suspect_z THEN 'suspect' ELSE 'clue' END AS grade,
    round(r.ratio, 4) AS value,
    $min_ratio AS threshold,
    'CC/MCC in ' || r.observed || ' of ' || r.n || ' stays (' || round(100 * r.rate, 1)
        || '%) against ' || round(r.expected, 1) || ' expected from level-' || r.hospital_level
        || ' peers (' || round(100 * r.peer_rate, 1) || '%); ratio ' || round(r.ratio, 2)
        || ', z = ' || round(r.z, 1) AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'peer_rate', n: r.n, observed: r.observed, expected: round(r.expected, 2),
             ratio: round(r.ratio, 4), z: round(r.z, 2), rate: round(r.rate, 4),
             peer_rate: round(r.peer_rate, 4), peer_level: r.hospital_level,
             top_adrgs: t.adrgs, months: m.months}) AS evidence
FROM hospital_cc_rates AS r
LEFT JOIN top_adrgs AS t ON t.hospital_id = r.hospital_id
LEFT JOIN trend AS m ON m.hospital_id = r.hospital_id
WHERE r.n >= $min_claims AND r.ratio >= $min_ratio AND r.z >= $min_z
