-- readmission_pairs: each stay with the same person's previous stay when the next admission
-- follows the previous discharge within $window_days (DH001's parameter). Built before the
-- rules so the merged stay of every pair can be regrouped with the real grouper.
CREATE OR REPLACE TABLE readmission_pairs AS
WITH ordered AS (
    SELECT claim_id, patient_id, admit_date, discharge_date,
           lag(claim_id) OVER (PARTITION BY patient_id
                               ORDER BY admit_date, discharge_date, claim_id) AS prev_claim_id
    FROM claims
    WHERE patient_id IS NOT NULL AND admit_date IS NOT NULL AND discharge_date IS NOT NULL
)
SELECT o.claim_id, o.prev_claim_id, date_diff('day', p.discharge_date, o.admit_date) AS gap_days
FROM ordered AS o
JOIN claims AS p ON p.claim_id = o.prev_claim_id
WHERE date_diff('day', p.discharge_date, o.admit_date) BETWEEN 0 AND $window_days;
