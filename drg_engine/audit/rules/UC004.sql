WITH windowed AS (
    SELECT c.claim_id, c.hospital_id, c.drg, c.severity, c.procedures, c.ventilation_hours,
           c.stay_payment
    FROM claims AS c
    WHERE c.ventilation_hours >= $threshold_hours
      AND c.ventilation_hours < $threshold_hours + $margin_hours
),
billed AS (
    SELECT l.claim_id, sum(l.quantity) AS hours
    FROM charges AS l
    SEMI JOIN windowed AS w ON w.claim_id = l.claim_id
    WHERE len(list_filter($ventilator_item_prefixes, lambda p: starts_with(l.item_code, p))) > 0
    GROUP BY l.claim_id
)
SELECT
    w.claim_id,
    w.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    CAST(w.ventilation_hours AS VARCHAR) AS key,
    CASE WHEN b.hours IS NOT NULL AND b.hours < $threshold_hours THEN 'suspect' ELSE 'clue' END
        AS grade,
    w.ventilation_hours AS value,
    $threshold_hours AS threshold,
    w.ventilation_hours || ' h of ventilation, within ' || $margin_hours || ' h above the '
        || $threshold_hours || ' h threshold'
        || CASE WHEN b.hours IS NOT NULL
                THEN '; ventilator support billed for ' || round(b.hours, 1) || ' h' ELSE '' END
        AS message,
    CASE WHEN r.cf_drg IS NOT NULL AND na.median_cost > 0 AND nc.median_cost IS NOT NULL
         THEN w.stay_payment * greatest(0, 1 - nc.median_cost / na.median_cost) ELSE 0 END
        AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'regroup', billed: {drg: w.drg, severity: w.severity},
             ventilation_hours: w.ventilation_hours, billed_ventilator_hours: b.hours,
             hours_window: [$threshold_hours, $threshold_hours + $margin_hours],
             ventilation_codes: list_filter(w.procedures,
                                            lambda p: list_contains($long_ventilation_codes, p)),
             trail: CASE WHEN r.cf_drg IS NOT NULL THEN
                 [{change: 'long ventilation code replaced by ' || $short_ventilation_code,
                   cf_status: r.cf_status, cf_drg: r.cf_drg, cf_severity: r.cf_severity,
                   norm_cost_billed: round(na.median_cost, 2),
                   norm_cost_without: round(nc.median_cost, 2)}] END}) AS evidence
FROM windowed AS w
LEFT JOIN billed AS b ON b.claim_id = w.claim_id
LEFT JOIN regroup_procedures AS r ON r.claim_id = w.claim_id AND r.variant = 'short-ventilation'
LEFT JOIN drg_norms_by_code AS na ON na.drg = w.drg
LEFT JOIN drg_norms_by_code AS nc ON nc.drg = r.cf_drg
