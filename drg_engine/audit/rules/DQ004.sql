SELECT
    c.claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'reconcile' AS key,
    'data' AS grade,
    round(coalesce(k.net_amount, 0), 2) AS value,
    round(c.total_cost, 2) AS threshold,
    CASE WHEN k.claim_id IS NULL THEN 'no charge line for this stay'
         ELSE 'charge lines sum to ' || round(k.net_amount, 2) || ' but total cost is '
              || round(c.total_cost, 2) END AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'reconcile', total_cost: round(c.total_cost, 2),
             lines_net: round(coalesce(k.net_amount, 0), 2),
             n_lines: coalesce(k.n_lines, 0)}) AS evidence
FROM claims_all AS c
LEFT JOIN claim_line_totals AS k ON k.claim_id = c.claim_id
WHERE c.total_cost IS NOT NULL
  AND (k.claim_id IS NULL
       OR abs(k.net_amount - c.total_cost)
          > greatest($absolute_tolerance, $relative_tolerance * abs(c.total_cost)))
