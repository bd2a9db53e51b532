-- calibration_cases: the historical cases that calibration learns from, with their year weight.
--
-- A case counts when it was grouped (DRG: status SUCCESS and a group other than 0000 / xQY;
-- DIP: a group), has a positive cost, and was discharged in a year that has a weight (1:2:7
-- weighting keeps the last three years; without weighting every year weighs 1).
-- Parameters: $scheme. Reads: history, year_weights.
SELECT
    h.payment_group,
    coalesce(h.adrg, left(h.payment_group, 3)) AS adrg,
    year(h.discharge_date) AS year,
    w.weight AS year_weight,
    CAST(h.total_cost AS DECIMAL(18, 2)) AS total_cost
FROM history AS h
INNER JOIN year_weights AS w ON w.year = year(h.discharge_date)
WHERE h.total_cost > 0
    AND coalesce(h.payment_group, '') <> ''
    AND CASE
        WHEN $scheme = 'DRG' THEN coalesce(h.status, 'SUCCESS') = 'SUCCESS'
            AND h.payment_group <> '0000'
            AND h.payment_group NOT LIKE '%QY'
        ELSE TRUE
    END
