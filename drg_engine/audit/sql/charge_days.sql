-- day_amounts: net amounts per stay day (only days with lines) by class, and a signature of
-- the day's substantive items. The signature is linear in the lines (sums of an item key times
-- cents and times thousandths of a unit, in exact integers), so a refund line cancels the line
-- it refunds exactly.
-- busy_days: the days with substantive (or unmapped) charges; an interior day absent from it is
-- an empty day. Both are keyed by the stay's integer key (claims.row_index; charge_claims maps
-- it to the claim id), which groups and joins faster than the claim id text. Day-level rules
-- work on these without materialising every day of every stay.
CREATE OR REPLACE TABLE day_amounts AS
SELECT
    claim_key,
    day_index AS d,
    any_value(span_days) AS span_days,
    coalesce(sum(amount) FILTER (WHERE class = 'substantive'), 0) AS substantive_amount,
    coalesce(sum(amount) FILTER (WHERE class = 'unknown'), 0) AS unknown_amount,
    coalesce(sum(amount) FILTER (WHERE category = '06'), 0) AS surgery_amount,
    coalesce(sum(sign(amount)) FILTER (WHERE class = 'substantive'), 0) AS substantive_lines,
    sum(item_key * CAST(amount * 100 AS BIGINT))
        FILTER (WHERE class = 'substantive') AS signature_amount,
    sum(item_key * CAST(quantity * 1000 AS BIGINT))
        FILTER (WHERE class = 'substantive') AS signature_quantity
FROM (SELECT *, CAST(item_hash % 1000003 AS BIGINT) AS item_key FROM charges)
GROUP BY claim_key, day_index;

CREATE OR REPLACE TABLE busy_days AS
SELECT claim_key, d, span_days, surgery_amount
FROM day_amounts
WHERE substantive_amount > 0 OR unknown_amount > 0;

-- charge_items: the distinct item codes billed (a few thousand), so rules classify codes once.
CREATE OR REPLACE TABLE charge_items AS
SELECT item_code, hash(item_code) AS item_hash
FROM (SELECT DISTINCT item_code FROM charges WHERE item_code IS NOT NULL);
