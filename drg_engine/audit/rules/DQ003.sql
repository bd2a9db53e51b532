SELECT
    claim_id,
    hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    coalesce(CAST(admit_date AS VARCHAR), '-') || '/'
        || coalesce(CAST(discharge_date AS VARCHAR), '-')
        || '/' || coalesce(CAST(los_days AS VARCHAR), '-') AS key,
    'data' AS grade,
    CAST(los_days AS DOUBLE) AS value,
    CAST(span_days AS DOUBLE) AS threshold,
    CASE WHEN admit_date IS NULL OR discharge_date IS NULL
         THEN 'admission or discharge date missing'
         ELSE 'length of stay ' || los_days || ' d but discharge - admission = '
              || span_days || ' d'
    END AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'dates', admit_date: admit_date, discharge_date: discharge_date,
             los_days: los_days, span_days: span_days}) AS evidence
FROM claims_all
WHERE admit_date IS NULL OR discharge_date IS NULL OR span_days < 0
   OR (los_days IS NOT NULL
       AND abs(los_days - span_days) > $los_tolerance_days
       AND abs(los_days - greatest(span_days, 1)) > $los_tolerance_days)
