-- claims_all: one row per grouped claim with the columns every rule reads.
-- stay_payment is the fund's payment for the stay: the fund_payment column when the claims
-- carry one (e.g. from the payment module), else total_cost x $fund_share.
CREATE OR REPLACE TABLE claims_all AS
WITH base AS (
    SELECT
        CAST(c.claim_id AS VARCHAR) AS claim_id,
        c.row_index,
        CAST(c.patient_id AS VARCHAR) AS patient_id,
        CAST(c.hospital_id AS VARCHAR) AS hospital_id,
        CAST(c.dept AS VARCHAR) AS dept,
        CAST(c.discharge_way AS VARCHAR) AS discharge_way,
        c.sex,
        c.age_years,
        c.admit_date,
        c.discharge_date,
        c.los_days,
        date_diff('day', c.admit_date, c.discharge_date) AS span_days,
        c.ventilation_hours,
        c.diagnoses,
        c.procedures,
        c.or_procedures,
        c.diagnoses[1] AS principal_dx,
        CAST(c.total_cost AS DOUBLE) AS total_cost,
        CAST(c.status AS VARCHAR) AS status,
        CAST(c.mdc AS VARCHAR) AS mdc,
        CAST(c.adrg AS VARCHAR) AS adrg,
        CAST(c.drg AS VARCHAR) AS drg,
        CAST(c.drg_name AS VARCHAR) AS drg_name,
        CAST(c.severity AS VARCHAR) AS severity,
        CAST(c.rule_set AS VARCHAR) AS rule_set,
        coalesce(nullif(trim(CAST(h.level AS VARCHAR)), ''), 'all') AS hospital_level,
        TRY_CAST(c.fund_payment AS DOUBLE) AS fund_payment_input,
        list_contains($planned_readmission_yes_values, trim(CAST(c.planned_readmission AS VARCHAR)))
            AS planned_readmission
    FROM input_claims AS c
    LEFT JOIN hospitals AS h ON h.hospital_id = CAST(c.hospital_id AS VARCHAR)
)
SELECT
    *,
    coalesce(fund_payment_input, total_cost * $fund_share) AS stay_payment,
    CASE
        WHEN fund_payment_input IS NOT NULL AND total_cost > 0 THEN fund_payment_input / total_cost
        ELSE $fund_share
    END AS fund_ratio,
    CASE WHEN fund_payment_input IS NOT NULL THEN 'fund_payment column'
         ELSE 'estimated: total_cost x fund_share' END AS payment_source,
    strftime(coalesce(discharge_date, admit_date), '%Y-%m') AS month
FROM base;
