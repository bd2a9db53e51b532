SELECT
    c.claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'los:' || c.los_days AS key,
    'clue' AS grade,
    round(c.los_days / n.mean_los, 3) AS value,
    $los_multiple AS threshold,
    c.los_days || ' days against a mean of ' || round(n.mean_los, 1) || ' (' || n.norm_source
        || ', n=' || n.norm_n || ', P95 ' || round(n.p95_los, 1) || ')' AS message,
    (c.los_days - $los_multiple * n.mean_los) * c.stay_payment / c.los_days AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'norm', los_days: c.los_days, norm_mean_los: round(n.mean_los, 2),
             norm_p95_los: round(n.p95_los, 1), norm_source: n.norm_source, norm_n: n.norm_n,
             excess_days: round(c.los_days - $los_multiple * n.mean_los, 1)}) AS evidence
FROM claims AS c
JOIN claim_norms AS n ON n.claim_id = c.claim_id
WHERE n.mean_los > 0 AND c.los_days > $los_multiple * n.mean_los
