WITH nights AS (
    SELECT c.hospital_id,
           CAST(unnest(range(c.admit_date, c.discharge_date, INTERVAL 1 DAY)) AS DATE) AS night
    FROM claims AS c
    SEMI JOIN hospitals AS h ON h.hospital_id = c.hospital_id AND h.approved_beds > 0
    WHERE c.span_days > 0
),
census AS (
    SELECT hospital_id, night, count(*) AS census FROM nights GROUP BY hospital_id, night
),
period AS (
    SELECT min(night) AS first_night, max(night) AS last_night,
           date_diff('day', min(night), max(night)) + 1 AS days
    FROM census
),
per_hospital AS (
    SELECT
        c.hospital_id,
        any_value(h.approved_beds) AS beds,
        count(*) FILTER (WHERE c.census > h.approved_beds * $bed_tolerance) AS days_over,
        max(c.census) AS max_census,
        sum(c.census) AS bed_days,
        list({night: c.night, census: c.census} ORDER BY c.census DESC, c.night)[1:10] AS top_days
    FROM census AS c
    JOIN hospitals AS h ON h.hospital_id = c.hospital_id
    GROUP BY c.hospital_id
),
monthly AS (
    SELECT hospital_id,
           list({month: month, max_census: max_census, mean_census: mean_census}
                ORDER BY month) AS months
    FROM (SELECT hospital_id, strftime(night, '%Y-%m') AS month, max(census) AS max_census,
                 round(avg(census), 1) AS mean_census
          FROM census GROUP BY ALL)
    GROUP BY hospital_id
)
SELECT
    CAST(NULL AS VARCHAR) AS claim_id,
    p.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'census' AS key,
    CASE WHEN p.bed_days / (pe.days * p.beds) > $suspect_occupancy THEN 'suspect'
         ELSE 'clue' END AS grade,
    CAST(p.days_over AS DOUBLE) AS value,
    CAST($min_days_over AS DOUBLE) AS threshold,
    'census above ' || p.beds || ' approved beds on ' || p.days_over || ' days (max '
        || p.max_census || '); average occupancy '
        || round(100 * p.bed_days / (pe.days * p.beds), 1) || '%' AS message,
    0.0 AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'census', approved_beds: p.beds, days_over: p.days_over,
             max_census: p.max_census, bed_days: p.bed_days, period_days: pe.days,
             period: pe.first_night || ' to ' || pe.last_night,
             theoretical_min_beds: round(p.bed_days / pe.days, 1),
             occupancy: round(p.bed_days / (pe.days * p.beds), 3),
             months: m.months, top_days: p.top_days}) AS evidence
FROM per_hospital AS p
CROSS JOIN period AS pe
LEFT JOIN monthly AS m ON m.hospital_id = p.hospital_id
WHERE p.days_over >= $min_days_over
