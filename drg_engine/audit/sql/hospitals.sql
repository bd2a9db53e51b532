-- hospitals: the hospital master with typed approved beds (empty when no master was given).
CREATE OR REPLACE TABLE hospitals AS
SELECT
    CAST(hospital_id AS VARCHAR) AS hospital_id,
    CAST(hospital_name AS VARCHAR) AS hospital_name,
    CAST(level AS VARCHAR) AS level,
    TRY_CAST(approved_beds AS DOUBLE) AS approved_beds,
    CAST(region AS VARCHAR) AS region
FROM input_hospitals;
