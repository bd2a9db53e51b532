-- charge_lines: every fee line, typed, with its national category and class, refunds counted
-- on their original line's day, the day index inside its stay (d = 0 admission day) and the
-- fund share of its amount. Lines that cannot be parsed or belong to no claim stay here (flagged)
-- for the data-quality checks; the gate deletes them (and blocked stays) before the rules run.
-- Categories are mapped once per distinct local code (explicit table, then 2-digit prefix).
-- Money and quantities are exact decimals, so sums do not depend on the order of the rows.
-- item_hash lets rules match the few item codes they look for with an integer join.
CREATE OR REPLACE TABLE category_lookup AS
WITH raw AS (
    SELECT DISTINCT coalesce(CAST(category AS VARCHAR), '') AS category_raw FROM input_charges
),
normalised AS (
    SELECT category_raw,
           CASE WHEN length(trim(category_raw)) = 1 THEN '0' || trim(category_raw)
                ELSE trim(category_raw) END AS category_local
    FROM raw
),
mapped AS (
    SELECT
        n.category_raw,
        n.category_local,
        coalesce(m.national_code,
                 CASE WHEN left(n.category_local, 2) IN ('01', '02', '03', '04', '05', '06',
                                                         '07', '08', '09', '10', '11', '12',
                                                         '13', '14')
                      THEN left(n.category_local, 2) END) AS category,
        CASE WHEN m.national_code IS NOT NULL THEN 'table'
             WHEN left(n.category_local, 2) IN ('01', '02', '03', '04', '05', '06', '07', '08',
                                                '09', '10', '11', '12', '13', '14') THEN 'prefix'
        END AS mapped_by
    FROM normalised AS n
    LEFT JOIN category_map AS m ON m.local_code = n.category_local
)
SELECT *,
       CASE WHEN list_contains($substantive_categories, category) THEN 'substantive'
            WHEN list_contains($hotel_categories, category) THEN 'hotel'
            ELSE 'unknown' END AS class
FROM mapped;

CREATE OR REPLACE VIEW charge_typed AS
SELECT
    CAST(claim_id AS VARCHAR) AS claim_id,
    CAST(line_id AS VARCHAR) AS line_id,
    nullif(CAST(refund_of AS VARCHAR), '') AS refund_of,
    coalesce(TRY_CAST(service_date AS DATE),
             CAST(TRY_CAST(service_date AS TIMESTAMP) AS DATE)) AS service_date,
    CAST(item_code AS VARCHAR) AS item_code,
    CAST(item_name AS VARCHAR) AS item_name,
    coalesce(CAST(category AS VARCHAR), '') AS category_raw,
    coalesce(TRY_CAST(quantity AS DECIMAL(18, 3)),
             CASE WHEN quantity IS NULL THEN 1.0 END) AS quantity,
    TRY_CAST(amount AS DECIMAL(18, 2)) AS amount,
    coalesce(TRY_CAST(is_discharge_med AS BOOLEAN),
             CAST(is_discharge_med AS VARCHAR) IN ('Y', 'y', '是', '1'), false) AS is_discharge_med
FROM input_charges;

-- The materialised lines are kept narrow (ten million rows): names and dates for evidence
-- are looked up in charge_typed for the few lines a finding shows.
CREATE OR REPLACE TABLE charge_lines AS
WITH originals AS (
    SELECT line_id AS original_id, min(service_date) AS original_date
    FROM charge_typed
    SEMI JOIN (SELECT DISTINCT refund_of FROM charge_typed WHERE refund_of IS NOT NULL) AS r
        ON r.refund_of = charge_typed.line_id
    GROUP BY line_id
)
SELECT
    t.claim_id, c.row_index AS claim_key, t.line_id, t.item_code,
    hash(t.item_code) AS item_hash, k.category, k.class,
    t.quantity, t.amount, CAST(t.amount * c.fund_ratio AS DECIMAL(18, 4)) AS fund_amount,
    t.is_discharge_med,
    date_diff('day', c.admit_date, coalesce(o.original_date, t.service_date)) AS day_index,
    c.span_days,
    c.claim_id IS NOT NULL AS has_claim,
    (t.service_date IS NOT NULL AND t.amount IS NOT NULL AND t.quantity IS NOT NULL) AS parsed,
    o.original_date IS NOT NULL AS has_original
FROM charge_typed AS t
LEFT JOIN originals AS o ON o.original_id = t.refund_of
LEFT JOIN category_lookup AS k ON k.category_raw = t.category_raw
LEFT JOIN claims_all AS c ON c.claim_id = t.claim_id;

CREATE OR REPLACE TABLE claim_line_totals AS
SELECT claim_id, count(*) AS n_lines, sum(amount) AS net_amount
FROM charge_lines
WHERE has_claim AND parsed
GROUP BY claim_id;
