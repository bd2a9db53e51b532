WITH judged AS (
    SELECT c.claim_id, c.hospital_id, c.total_cost, c.los_days, c.stay_payment,
           c.total_cost / greatest(c.los_days, 1) AS per_diem, n.*
    FROM claims AS c
    JOIN claim_norms AS n ON n.claim_id = c.claim_id
    WHERE c.los_days >= $min_los_days AND c.total_cost IS NOT NULL
)
SELECT
    claim_id,
    hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'per-diem' AS key,
    'clue' AS grade,
    round(per_diem / median_per_diem, 4) AS value,
    $per_diem_ratio AS threshold,
    'cost per day ' || round(per_diem, 2) || ' is ' || round(100 * per_diem / median_per_diem, 1)
        || '% of the norm median ' || round(median_per_diem, 2) || ' (' || norm_source || ', n='
        || norm_n || ')' AS message,
    stay_payment AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'norm', per_diem: round(per_diem, 2),
             norm_median_per_diem: round(median_per_diem, 2), total_cost: round(total_cost, 2),
             norm_mean_cost: round(mean_cost, 2), los_days: los_days,
             norm_mean_los: round(mean_los, 2), norm_source: norm_source, norm_n: norm_n,
             per_diem_signal: per_diem < $per_diem_ratio * median_per_diem,
             total_signal: total_cost < $total_ratio * mean_cost AND los_days >= mean_los})
        AS evidence
FROM judged
WHERE median_per_diem > 0
  AND (per_diem < $per_diem_ratio * median_per_diem
       OR (total_cost < $total_ratio * mean_cost AND los_days >= mean_los))
