WITH coded AS (
    SELECT * FROM (
        SELECT c.claim_id, c.hospital_id, c.drg, c.severity, c.stay_payment,
               list_filter(c.or_procedures, lambda p: len(list_filter(
                   $excluded_procedure_prefixes, lambda x: starts_with(p, x))) = 0)
                   AS or_procedures
        FROM claims AS c
        SEMI JOIN charge_claims AS k ON k.claim_id = c.claim_id
        WHERE c.status = 'SUCCESS' AND len(c.or_procedures) > 0
    )
    WHERE len(or_procedures) > 0
),
procedure_items AS MATERIALIZED (
    SELECT item_code, item_hash
    FROM charge_items
    WHERE len(list_filter($procedure_item_prefixes, lambda p: starts_with(item_code, p))) > 0
),
surgery AS (
    SELECT l.claim_id, sum(l.amount) AS amount
    FROM charges AS l
    SEMI JOIN coded AS c ON c.claim_id = l.claim_id
    LEFT JOIN procedure_items AS p ON p.item_hash = l.item_hash AND p.item_code = l.item_code
    WHERE list_contains($surgery_categories, l.category) OR p.item_code IS NOT NULL
    GROUP BY l.claim_id
)
SELECT
    c.claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    array_to_string(list_sort(c.or_procedures), ';') AS key,
    'suspect' AS grade,
    round(coalesce(s.amount, 0), 2) AS value,
    0.0 AS threshold,
    'OR procedure(s) ' || array_to_string(c.or_procedures, ', ') || ' coded but no surgery, '
        || 'anaesthesia or interventional charge; without them the stay groups to '
        || coalesce(r.cf_drg, '?') || ' instead of ' || c.drg AS message,
    CASE WHEN na.median_cost > 0 AND nc.median_cost IS NOT NULL
         THEN c.stay_payment * greatest(0, 1 - nc.median_cost / na.median_cost) ELSE 0 END
        AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'regroup', billed: {drg: c.drg, severity: c.severity},
             or_procedures: c.or_procedures, surgery_amount: round(coalesce(s.amount, 0), 2),
             trail: [{change: 'without OR procedures', cf_status: r.cf_status, cf_drg: r.cf_drg,
                      cf_severity: r.cf_severity, norm_cost_billed: round(na.median_cost, 2),
                      norm_cost_without: round(nc.median_cost, 2)}]}) AS evidence
FROM coded AS c
LEFT JOIN surgery AS s ON s.claim_id = c.claim_id
LEFT JOIN regroup_procedures AS r ON r.claim_id = c.claim_id AND r.variant = 'without-or'
LEFT JOIN drg_norms_by_code AS na ON na.drg = c.drg
LEFT JOIN drg_norms_by_code AS nc ON nc.drg = r.cf_drg
WHERE coalesce(s.amount, 0) <= 0
