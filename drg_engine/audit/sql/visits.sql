-- visits: the same persons' other settlements, typed, with a kind derived from med_type.
CREATE OR REPLACE TABLE visits AS
WITH typed AS (
    SELECT
        CAST(visit_id AS VARCHAR) AS visit_id,
        CAST(patient_id AS VARCHAR) AS patient_id,
        CAST(hospital_id AS VARCHAR) AS hospital_id,
        trim(CAST(med_type AS VARCHAR)) AS med_type,
        coalesce(TRY_CAST(visit_date AS DATE),
                 CAST(TRY_CAST(visit_date AS TIMESTAMP) AS DATE)) AS visit_date,
        coalesce(TRY_CAST(end_date AS DATE),
                 CAST(TRY_CAST(end_date AS TIMESTAMP) AS DATE)) AS end_date,
        TRY_CAST(amount AS DECIMAL(18, 2)) AS amount,
        CAST(items AS VARCHAR) AS items
    FROM input_visits
)
SELECT
    *,
    CASE
        WHEN len(list_filter($inpatient_med_types, lambda p: starts_with(med_type, p))) > 0
            THEN 'inpatient'
        WHEN len(list_filter($emergency_med_types, lambda p: starts_with(med_type, p))) > 0
            THEN 'emergency'
        WHEN len(list_filter($pharmacy_med_types, lambda p: starts_with(med_type, p))) > 0
            THEN 'pharmacy'
        WHEN len(list_filter($outpatient_med_types, lambda p: starts_with(med_type, p))) > 0
            THEN 'outpatient'
        ELSE 'other'
    END AS kind
FROM typed;
