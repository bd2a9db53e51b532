WITH candidates AS (
    SELECT c.claim_id, c.hospital_id, c.principal_dx, c.los_days, c.total_cost, c.stay_payment
    FROM claims AS c
    SEMI JOIN charge_claims AS k ON k.claim_id = c.claim_id
    WHERE c.los_days <= $max_los_days
      AND len(c.or_procedures) = 0
      AND NOT list_contains($excluded_discharge_ways, c.discharge_way)
),
categories AS (
    SELECT l.claim_id, coalesce(l.category, '??') AS category, sum(l.amount) AS amount
    FROM charges AS l
    SEMI JOIN candidates AS c ON c.claim_id = l.claim_id
    GROUP BY ALL
),
mix AS (
    SELECT claim_id,
           sum(amount) AS total,
           sum(amount) FILTER (WHERE list_contains($exam_categories, category)) AS exam_amount,
           sum(amount) FILTER (WHERE list_contains($surgery_categories, category))
               AS surgery_amount,
           list({category: category, amount: round(amount, 2)} ORDER BY amount DESC) AS categories
    FROM categories
    GROUP BY claim_id
),
gated AS (
    SELECT c.*, m.total, coalesce(m.exam_amount, 0) / nullif(m.total, 0) AS exam_share,
           m.categories, n.mean_cost, n.norm_source, n.norm_n
    FROM candidates AS c
    JOIN mix AS m ON m.claim_id = c.claim_id
    LEFT JOIN claim_norms AS n ON n.claim_id = c.claim_id
    WHERE coalesce(m.surgery_amount, 0) <= 0 AND m.total > 0
),
signals AS (
    SELECT *,
           exam_share >= $strong_exam_share AS strong,
           len(list_filter($outpatient_dx_prefixes, lambda p: starts_with(principal_dx, p))) > 0
               AS outpatient_dx,
           coalesce(total_cost < $cost_ratio * mean_cost, false) AS cheap
    FROM gated
    WHERE exam_share >= $exam_share
)
SELECT
    claim_id,
    hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'admission' AS key,
    CASE WHEN strong OR (outpatient_dx AND cheap) THEN 'suspect' ELSE 'clue' END AS grade,
    round(exam_share, 4) AS value,
    $exam_share AS threshold,
    los_days || '-day non-surgical stay, exams and labs ' || round(100 * exam_share, 1)
        || '% of charges' || CASE WHEN outpatient_dx THEN '; principal ' || principal_dx
                                       || ' is outpatient-manageable' ELSE '' END
        || CASE WHEN cheap THEN '; total below ' || round(100 * $cost_ratio) || '% of the norm mean'
                ELSE '' END AS message,
    stay_payment AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'fee_mix', categories: categories, total: round(total, 2),
             exam_share: round(exam_share, 4),
             signals: {exam_share: true, strong_exam_share: strong,
                       outpatient_manageable_principal: outpatient_dx, below_norm_cost: cheap},
             norm_mean_cost: round(mean_cost, 2), norm_source: norm_source, norm_n: norm_n})
        AS evidence
FROM signals
