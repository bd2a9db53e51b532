WITH pairs AS (
    SELECT
        r.claim_id, r.prev_claim_id, r.gap_days,
        n.patient_id, n.hospital_id, n.dept, n.principal_dx, n.mdc, n.status, n.stay_payment,
        n.discharge_way,
        n.admit_date, n.discharge_date, n.diagnoses, n.procedures, n.drg, n.los_days,
        p.hospital_id AS prev_hospital, p.dept AS prev_dept, p.principal_dx AS prev_dx,
        p.mdc AS prev_mdc, p.status AS prev_status, p.stay_payment AS prev_payment,
        p.admit_date AS prev_admit, p.discharge_date AS prev_discharge,
        p.diagnoses AS prev_diagnoses, p.procedures AS prev_procedures, p.drg AS prev_drg,
        p.los_days AS prev_los, p.discharge_way AS prev_discharge_way
    FROM readmission_pairs AS r
    JOIN claims AS n ON n.claim_id = r.claim_id
    JOIN claims AS p ON p.claim_id = r.prev_claim_id
),
tiered AS (
    SELECT *,
        CASE
            WHEN principal_dx = prev_dx THEN 1
            WHEN left(principal_dx, 3) = left(prev_dx, 3) THEN 2
            WHEN list_contains(list_transform(prev_diagnoses[2:], lambda x: left(x, 3)),
                               left(principal_dx, 3)) THEN 3
            WHEN status = 'SUCCESS' AND prev_status = 'SUCCESS' AND mdc = prev_mdc THEN 4
        END AS tier
    FROM pairs
),
frequency AS (
    SELECT t.claim_id, count(*) AS recent_stays
    FROM tiered AS t
    JOIN claims AS o ON o.patient_id = t.patient_id
    WHERE o.admit_date BETWEEN t.admit_date - CAST($frequent_window_days AS INTEGER)
                           AND t.admit_date
    GROUP BY t.claim_id
),
boosted AS (
    SELECT t.*, f.recent_stays,
        list_filter([
            CASE WHEN t.gap_days <= 1 THEN 'gap of ' || t.gap_days || ' day(s)' END,
            CASE WHEN t.hospital_id = t.prev_hospital THEN 'same hospital' END,
            CASE WHEN t.hospital_id = t.prev_hospital AND t.dept IS DISTINCT FROM t.prev_dept
                 THEN 'department change ' || coalesce(t.prev_dept, '?') || ' -> '
                      || coalesce(t.dept, '?') END,
            CASE WHEN list_contains($medical_order_discharge_ways, t.prev_discharge_way)
                 THEN 'previous discharge by medical order' END,
            CASE WHEN t.prev_los <= $short_first_stay_days
                 THEN 'short first stay (' || t.prev_los || ' d)' END,
            CASE WHEN f.recent_stays >= $frequent_stays
                 THEN f.recent_stays || ' stays in ' || $frequent_window_days || ' days' END
        ], lambda x: x IS NOT NULL) AS boosters
    FROM tiered AS t
    LEFT JOIN frequency AS f ON f.claim_id = t.claim_id
    WHERE t.tier <= $max_tier
)
SELECT
    b.claim_id,
    b.hospital_id,
    b.prev_claim_id AS related_id,
    b.prev_claim_id AS key,
    CASE WHEN b.tier <= 2 AND len(b.boosters) >= $suspect_min_boosters THEN 'suspect'
         ELSE 'clue' END AS grade,
    CAST(b.gap_days AS DOUBLE) AS value,
    CAST($window_days AS DOUBLE) AS threshold,
    'readmitted ' || b.gap_days || ' day(s) after stay ' || b.prev_claim_id || ' ('
        || CASE b.tier WHEN 1 THEN 'same principal diagnosis'
                       WHEN 2 THEN 'same diagnosis category'
                       WHEN 3 THEN 'previous secondary diagnosis became principal'
                       ELSE 'same MDC' END
        || ')' AS message,
    CASE WHEN nm.median_payment IS NULL THEN least(b.prev_payment, b.stay_payment)
         ELSE least(least(b.prev_payment, b.stay_payment),
                    greatest(0, b.prev_payment + b.stay_payment - nm.median_payment)) END
        AS amount,
    NULL AS lines,
    CASE WHEN list_contains($transfer_discharge_ways, b.prev_discharge_way)
              AND b.prev_hospital IS DISTINCT FROM b.hospital_id
         THEN 'ordered-transfer' END AS exemption,
    CASE WHEN list_contains($transfer_discharge_ways, b.prev_discharge_way)
              AND b.prev_hospital IS DISTINCT FROM b.hospital_id
         THEN 'previous stay ended with an ordered transfer (discharge way '
              || b.prev_discharge_way || ') to another hospital' END AS exemption_reason,
    to_json({kind: 'pair', gap_days: b.gap_days, tier: b.tier, boosters: b.boosters,
             previous: {claim_id: b.prev_claim_id, hospital_id: b.prev_hospital,
                        dept: b.prev_dept, admit_date: b.prev_admit,
                        discharge_date: b.prev_discharge, discharge_way: b.prev_discharge_way,
                        diagnoses: b.prev_diagnoses, procedures: b.prev_procedures,
                        drg: b.prev_drg, payment: round(b.prev_payment, 2)},
             next: {claim_id: b.claim_id, hospital_id: b.hospital_id, dept: b.dept,
                    admit_date: b.admit_date, discharge_date: b.discharge_date,
                    discharge_way: b.discharge_way, diagnoses: b.diagnoses,
                    procedures: b.procedures, drg: b.drg,
                    payment: round(b.stay_payment, 2)},
             merged: {drg: m.merged_drg, severity: m.merged_severity, status: m.merged_status,
                      norm_payment: round(nm.median_payment, 2), norm_n: nm.n,
                      method: CASE WHEN nm.median_payment IS NULL
                                   THEN 'no norm for the merged DRG: smaller of the two payments'
                                   ELSE 'both payments minus the merged DRG''s norm payment, '
                                        || 'capped at the smaller payment' END}})
        AS evidence
FROM boosted AS b
LEFT JOIN merged_regroup AS m ON m.claim_id = b.claim_id
LEFT JOIN drg_norms_by_code AS nm ON nm.drg = m.merged_drg AND m.merged_status = 'SUCCESS'
