-- calibration_cell_costs: per cell (a payment group, or with $level = 'adrg' its ADRG) and year,
-- the number of cases and the trimmed cost, i.e. the cost of the cases inside the cell-year's
-- fences:
--   $trim_method = 'iqr':      Q1 - k x IQR .. Q3 + k x IQR with k = $iqr_factor (Tukey's
--                              fences, 四分位间距法; k = 1.5 is usual);
--   $trim_method = 'quantile': the $trim_quantile .. 1 - $trim_quantile quantiles (actual
--                              costs, so trimming never empties a cell);
--   $trim_method = 'none':     every case.
-- The all-case cost is kept for the rate; adrg is the cell's ADRG.
-- Reads: calibration_cases.
WITH keyed AS (
    SELECT
        CASE WHEN $level = 'adrg' THEN adrg ELSE payment_group END AS cell,
        adrg,
        year,
        total_cost,
        CAST(total_cost AS DOUBLE) AS cost
    FROM calibration_cases
),

quartiles AS (
    SELECT
        cell,
        year,
        quantile_cont(cost, 0.25) AS q1,
        quantile_cont(cost, 0.75) AS q3,
        CAST(quantile_disc(total_cost, CAST($trim_quantile AS DOUBLE)) AS DOUBLE) AS low_quantile,
        CAST(quantile_disc(total_cost, 1 - CAST($trim_quantile AS DOUBLE)) AS DOUBLE)
            AS high_quantile
    FROM keyed
    GROUP BY cell, year
),

fences AS (
    SELECT
        cell,
        year,
        CASE $trim_method
            WHEN 'iqr' THEN q1 - CAST($iqr_factor AS DOUBLE) * (q3 - q1)
            WHEN 'quantile' THEN low_quantile
            ELSE '-infinity'::DOUBLE
        END AS low,
        CASE $trim_method
            WHEN 'iqr' THEN q3 + CAST($iqr_factor AS DOUBLE) * (q3 - q1)
            WHEN 'quantile' THEN high_quantile
            ELSE 'infinity'::DOUBLE
        END AS high
    FROM quartiles
)

SELECT
    k.cell,
    any_value(k.adrg) AS adrg,
    k.year,
    count(*) AS cases,
    sum(k.total_cost) AS total_cost,
    count(*) FILTER (WHERE k.cost BETWEEN f.low AND f.high) AS trimmed_cases,
    coalesce(sum(k.total_cost) FILTER (WHERE k.cost BETWEEN f.low AND f.high), 0)
        AS trimmed_cost
FROM keyed AS k
INNER JOIN fences AS f ON f.cell = k.cell AND f.year = k.year
GROUP BY k.cell, k.year
ORDER BY k.cell, k.year
