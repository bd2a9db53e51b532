-- secondary_flips: the regrouping trail of every grouped stay (one row per secondary diagnosis
-- with a grouping role, removed in turn and regrouped with the grouper), with whether the
-- billed group is richer than the group without the code. Within one ADRG the CC/MCC split is
-- richer by construction; across ADRGs the batch norms decide.
CREATE OR REPLACE TABLE secondary_flips AS
SELECT
    r.claim_id, r.position, r.dropped_code, r.cf_status, r.cf_drg, r.cf_severity,
    c.drg, c.severity, c.hospital_id, c.stay_payment,
    na.median_cost AS norm_actual, nc.median_cost AS norm_cf,
    r.cf_drg IS DISTINCT FROM c.drg AND CASE
        WHEN r.cf_adrg = c.adrg
        THEN (CASE c.severity WHEN 'MCC' THEN 2 WHEN 'CC' THEN 1 ELSE 0 END)
             > (CASE r.cf_severity WHEN 'MCC' THEN 2 WHEN 'CC' THEN 1 ELSE 0 END)
        WHEN na.median_cost IS NOT NULL AND nc.median_cost IS NOT NULL
        THEN na.median_cost > nc.median_cost
        ELSE false
    END AS flips
FROM regroup_secondary AS r
JOIN claims AS c ON c.claim_id = r.claim_id
LEFT JOIN drg_norms_by_code AS na ON na.drg = c.drg
LEFT JOIN drg_norms_by_code AS nc ON nc.drg = r.cf_drg
WHERE c.status = 'SUCCESS';
