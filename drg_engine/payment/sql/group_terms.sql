-- group_terms: for every payment group (DRG or DIP group) and every hospital level met in the
-- claims, the group value (DRG relative weight or DIP score), whether it is paid per item, and
-- the low / high / extreme outlier rule that applies to it.
--
-- A value row for the level wins over a row for any level. An outlier rule applies when the
-- group value lies in [band_from, band_to); a rule for the level wins over a rule for any level.
-- Reads: group_values, outlier_rules, hospital_terms.
WITH levels AS (
    SELECT DISTINCT hospital_level
    FROM hospital_terms
    WHERE hospital_level IS NOT NULL
),

value_by_level AS (
    SELECT
        v.payment_group,
        l.hospital_level,
        v.group_value,
        v.payable_per_item,
        v.apply_hospital_coefficient,
        v.average_cost
    FROM group_values AS v
    INNER JOIN levels AS l
        ON v.hospital_level IS NULL OR v.hospital_level = l.hospital_level
    QUALIFY row_number() OVER (
        PARTITION BY v.payment_group, l.hospital_level
        ORDER BY v.hospital_level IS NULL
    ) = 1
),

rule_by_kind AS (
    SELECT
        v.payment_group,
        v.hospital_level,
        r.kind,
        r.multiple,
        r.inclusive,
        r.mode,
        r.add_on_ratio,
        r.apply_coefficient
    FROM value_by_level AS v
    INNER JOIN outlier_rules AS r
        ON (r.hospital_level IS NULL OR r.hospital_level = v.hospital_level)
        AND v.group_value >= r.band_from
        AND (r.band_to IS NULL OR v.group_value < r.band_to)
    QUALIFY row_number() OVER (
        PARTITION BY v.payment_group, v.hospital_level, r.kind
        ORDER BY r.hospital_level IS NULL
    ) = 1
)

SELECT
    v.payment_group,
    v.hospital_level,
    v.group_value,
    v.payable_per_item,
    v.apply_hospital_coefficient,
    v.average_cost,
    low.multiple AS low_multiple,
    low.inclusive AS low_inclusive,
    low.mode AS low_mode,
    low.apply_coefficient AS low_apply_coefficient,
    high.multiple AS high_multiple,
    high.inclusive AS high_inclusive,
    high.mode AS high_mode,
    high.add_on_ratio AS high_add_on_ratio,
    high.apply_coefficient AS high_apply_coefficient,
    extreme.multiple AS extreme_multiple,
    extreme.inclusive AS extreme_inclusive,
    extreme.mode AS extreme_mode,
    extreme.add_on_ratio AS extreme_add_on_ratio,
    extreme.apply_coefficient AS extreme_apply_coefficient
FROM value_by_level AS v
LEFT JOIN rule_by_kind AS low
    ON low.payment_group = v.payment_group
    AND low.hospital_level = v.hospital_level
    AND low.kind = 'low'
LEFT JOIN rule_by_kind AS high
    ON high.payment_group = v.payment_group
    AND high.hospital_level = v.hospital_level
    AND high.kind = 'high'
LEFT JOIN rule_by_kind AS extreme
    ON extreme.payment_group = v.payment_group
    AND extreme.hospital_level = v.hospital_level
    AND extreme.kind = 'extreme'
ORDER BY v.payment_group, v.hospital_level
