WITH stays AS (
    SELECT claim_id AS stay_id, 'claim' AS source, patient_id, hospital_id, dept, admit_date,
           discharge_date, principal_dx, stay_payment
    FROM claims
    WHERE patient_id IS NOT NULL AND admit_date IS NOT NULL AND discharge_date IS NOT NULL
    UNION ALL
    SELECT v.visit_id, 'visit', v.patient_id, v.hospital_id, NULL, v.visit_date,
           coalesce(v.end_date, v.visit_date), NULL, NULL
    FROM visits AS v
    ANTI JOIN claims AS c ON c.claim_id = v.visit_id
    WHERE v.kind = 'inpatient' AND v.patient_id IS NOT NULL AND v.visit_date IS NOT NULL
),
pairs AS (
    SELECT
        a.stay_id AS claim_id, a.hospital_id, a.admit_date, a.stay_payment,
        b.stay_id AS other_id, b.source AS other_source, b.hospital_id AS other_hospital,
        b.dept AS other_dept, b.admit_date AS other_admit, b.discharge_date AS other_discharge,
        b.principal_dx AS other_dx,
        date_diff('day', greatest(a.admit_date, b.admit_date),
                  least(a.discharge_date, b.discharge_date)) + 1 AS common_days,
        (a.discharge_date = b.admit_date OR b.discharge_date = a.admit_date) AS touching
    FROM stays AS a
    JOIN stays AS b ON b.patient_id = a.patient_id AND b.stay_id <> a.stay_id
    WHERE a.source = 'claim'
      AND a.admit_date <= b.discharge_date AND b.admit_date <= a.discharge_date
      AND NOT (b.source = 'claim'
               AND (b.admit_date > a.admit_date
                    OR (b.admit_date = a.admit_date AND b.stay_id > a.stay_id)))
),
overlapping AS (
    SELECT *, CASE WHEN common_days = 1 AND touching THEN 0 ELSE common_days END AS overlap_days
    FROM pairs
)
SELECT
    o.claim_id,
    any_value(o.hospital_id) AS hospital_id,
    min(o.other_id) AS related_id,
    array_to_string(list_sort(list(o.other_id)), ';') AS key,
    'suspect' AS grade,
    CAST(max(o.overlap_days) AS DOUBLE) AS value,
    CAST($min_overlap_days AS DOUBLE) AS threshold,
    'overlaps ' || count(*) || ' other inpatient stay(s) by up to ' || max(o.overlap_days)
        || ' day(s)' || CASE WHEN bool_or(o.other_hospital IS DISTINCT FROM o.hospital_id)
                             THEN ' at another institution'
                             ELSE ' at the same hospital (duplicate registration)' END AS message,
    any_value(o.stay_payment) AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'overlap',
             stay: {claim_id: any_value(c.claim_id), hospital_id: any_value(c.hospital_id),
                    dept: any_value(c.dept), admit_date: any_value(c.admit_date),
                    discharge_date: any_value(c.discharge_date),
                    principal_dx: any_value(c.principal_dx), drg: any_value(c.drg),
                    payment: round(any_value(c.stay_payment), 2)},
             others: list({stay_id: o.other_id, source: o.other_source,
                           hospital_id: o.other_hospital, dept: o.other_dept,
                           admit_date: o.other_admit, discharge_date: o.other_discharge,
                           principal_dx: o.other_dx, overlap_days: o.overlap_days}
                          ORDER BY o.other_admit, o.other_id),
             alternative_explanation: 'identity misuse (冒名) by another person'}) AS evidence
FROM overlapping AS o
JOIN claims AS c ON c.claim_id = o.claim_id
WHERE o.overlap_days >= $min_overlap_days
GROUP BY o.claim_id
