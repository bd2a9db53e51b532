WITH concurrent AS (
    SELECT c.claim_id, c.hospital_id, c.stay_payment, c.fund_ratio, c.admit_date,
           v.visit_id, v.hospital_id AS visit_hospital, v.kind, v.med_type, v.visit_date,
           v.amount AS visit_amount, v.items,
           v.hospital_id IS DISTINCT FROM c.hospital_id AS elsewhere
    FROM claims AS c
    JOIN visits AS v ON v.patient_id = c.patient_id
    WHERE v.kind IN ('outpatient', 'emergency', 'pharmacy')
      AND v.visit_date IS NOT NULL
      AND ((v.visit_date > c.admit_date AND v.visit_date < c.discharge_date)
           OR (NOT $ignore_edge_days
               AND v.visit_date BETWEEN c.admit_date AND c.discharge_date))
)
SELECT
    claim_id,
    any_value(hospital_id) AS hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    array_to_string(list_sort(list(visit_id)), ';') AS key,
    CASE WHEN bool_or(elsewhere) THEN 'suspect' ELSE 'clue' END AS grade,
    CAST(count(*) AS DOUBLE) AS value,
    1.0 AS threshold,
    count(*) || ' settlement(s) during the stay'
        || CASE WHEN bool_or(elsewhere)
                THEN ', at another institution: '
                     || array_to_string(list_sort(list_distinct(
                            list(visit_hospital) FILTER (WHERE elsewhere))), ', ')
                ELSE ' at the same hospital' END AS message,
    CASE WHEN bool_or(elsewhere) THEN any_value(stay_payment)
         ELSE coalesce(sum(visit_amount), 0) * any_value(fund_ratio) END AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'transactions',
             transactions: list({visit_id: visit_id, hospital_id: visit_hospital, kind: kind,
                                 med_type: med_type, date: visit_date,
                                 day: date_diff('day', admit_date, visit_date),
                                 amount: visit_amount, items: items, elsewhere: elsewhere}
                                ORDER BY visit_date, visit_id)}) AS evidence
FROM concurrent
GROUP BY claim_id
