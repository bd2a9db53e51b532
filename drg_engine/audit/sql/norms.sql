-- Norms derived from the batch with robust statistics (means from exact decimal sums, so they
-- do not depend on row order): per DRG x hospital level, per DRG and
-- per ADRG. claim_norms picks, for every grouped claim, the finest norm resting on at least
-- $min_group_n stays. drg_norms_by_code serves counterfactual groups (regrouping deltas).
CREATE OR REPLACE TABLE norm_groups AS
WITH stays AS (
    SELECT drg, adrg, hospital_level, total_cost, stay_payment, los_days,
           CAST(total_cost AS DECIMAL(18, 2)) AS exact_cost,
           total_cost / greatest(los_days, 1) AS per_diem
    FROM claims
    WHERE status = 'SUCCESS' AND total_cost IS NOT NULL AND los_days IS NOT NULL
)
SELECT 'drg_level' AS scope, drg AS grp, hospital_level AS level, count(*) AS n,
       median(per_diem) AS median_per_diem,
       CAST(sum(exact_cost) AS DOUBLE) / count(*) AS mean_cost,
       median(total_cost) AS median_cost, avg(los_days) AS mean_los,
       quantile_cont(los_days, 0.95) AS p95_los, median(stay_payment) AS median_payment
FROM stays GROUP BY drg, hospital_level
UNION ALL
SELECT 'drg', drg, '*', count(*), median(per_diem),
       CAST(sum(exact_cost) AS DOUBLE) / count(*), median(total_cost),
       avg(los_days), quantile_cont(los_days, 0.95), median(stay_payment)
FROM stays GROUP BY drg
UNION ALL
SELECT 'adrg', adrg, '*', count(*), median(per_diem),
       CAST(sum(exact_cost) AS DOUBLE) / count(*), median(total_cost),
       avg(los_days), quantile_cont(los_days, 0.95), median(stay_payment)
FROM stays GROUP BY adrg;

CREATE OR REPLACE TABLE claim_norms AS
WITH picked AS (
    SELECT
        c.claim_id,
        CASE WHEN l.n >= $min_group_n THEN l
             WHEN d.n >= $min_group_n THEN d
             WHEN a.n >= $min_group_n THEN a END AS g
    FROM claims AS c
    LEFT JOIN norm_groups AS l
        ON l.scope = 'drg_level' AND l.grp = c.drg AND l.level = c.hospital_level
    LEFT JOIN norm_groups AS d ON d.scope = 'drg' AND d.grp = c.drg
    LEFT JOIN norm_groups AS a ON a.scope = 'adrg' AND a.grp = c.adrg
    WHERE c.status = 'SUCCESS'
)
SELECT
    claim_id,
    g.scope AS norm_scope,
    CASE g.scope WHEN 'drg_level' THEN 'DRG ' || g.grp || ', hospital level ' || g.level
                 WHEN 'drg' THEN 'DRG ' || g.grp || ', all levels'
                 ELSE 'ADRG ' || g.grp END AS norm_source,
    g.n AS norm_n, g.median_per_diem, g.mean_cost, g.median_cost, g.mean_los, g.p95_los,
    g.median_payment
FROM picked
WHERE g IS NOT NULL;

CREATE OR REPLACE TABLE drg_norms_by_code AS
SELECT grp AS drg, n, median_cost, median_payment
FROM norm_groups
WHERE scope = 'drg' AND n >= $min_group_n;
