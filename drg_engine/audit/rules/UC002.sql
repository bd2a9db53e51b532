WITH flips AS (
    SELECT * FROM secondary_flips WHERE flips
),
support_rules AS (
    SELECT f.claim_id, f.dropped_code,
           list(DISTINCT s.item_prefix ORDER BY s.item_prefix) AS prefixes
    FROM flips AS f
    JOIN dx_support AS s ON starts_with(f.dropped_code, s.dx_prefix)
    GROUP BY f.claim_id, f.dropped_code
),
support_items AS MATERIALIZED (
    -- the charged item codes that match a support prefix, found once per distinct code
    SELECT i.item_code, i.item_hash, s.item_prefix
    FROM charge_items AS i
    JOIN (SELECT DISTINCT item_prefix FROM dx_support) AS s
        ON starts_with(i.item_code, s.item_prefix)
),
claim_support AS (
    SELECT DISTINCT l.claim_id, si.item_prefix
    FROM charges AS l
    JOIN support_items AS si ON si.item_hash = l.item_hash AND si.item_code = l.item_code
    SEMI JOIN (SELECT DISTINCT claim_id FROM support_rules) AS f ON f.claim_id = l.claim_id
    WHERE l.amount > 0
),
supported AS (
    SELECT DISTINCT r.claim_id, r.dropped_code
    FROM (SELECT claim_id, dropped_code, unnest(prefixes) AS prefix FROM support_rules) AS r
    JOIN claim_support AS s ON s.claim_id = r.claim_id AND s.item_prefix = r.prefix
),
unsupported AS (
    SELECT f.*
    FROM flips AS f
    SEMI JOIN support_rules AS s ON s.claim_id = f.claim_id AND s.dropped_code = f.dropped_code
    ANTI JOIN supported AS p ON p.claim_id = f.claim_id AND p.dropped_code = f.dropped_code
),
flagged AS (
    SELECT claim_id, any_value(hospital_id) AS hospital_id, any_value(drg) AS drg,
           any_value(severity) AS severity,
           list(dropped_code ORDER BY dropped_code) AS codes,
           max(CASE WHEN norm_actual > 0 AND norm_cf IS NOT NULL
                    THEN stay_payment * greatest(0, 1 - norm_cf / norm_actual) END) AS delta
    FROM unsupported
    GROUP BY claim_id
),
trails AS (
    SELECT t.claim_id,
           list({position: t.position, dropped: t.dropped_code, cf_status: t.cf_status,
                 cf_drg: t.cf_drg, cf_severity: t.cf_severity, changes_group: t.flips,
                 support_prefixes: s.prefixes, supported: p.claim_id IS NOT NULL,
                 norm_cost_billed: round(t.norm_actual, 2),
                 norm_cost_without: round(t.norm_cf, 2)}
                ORDER BY t.position) AS trail
    FROM secondary_flips AS t
    SEMI JOIN flagged AS f ON f.claim_id = t.claim_id
    LEFT JOIN support_rules AS s ON s.claim_id = t.claim_id AND s.dropped_code = t.dropped_code
    LEFT JOIN supported AS p ON p.claim_id = t.claim_id AND p.dropped_code = t.dropped_code
    GROUP BY t.claim_id
)
SELECT
    f.claim_id,
    f.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    array_to_string(f.codes, ';') AS key,
    'clue' AS grade,
    CAST(len(f.codes) AS DOUBLE) AS value,
    1.0 AS threshold,
    'without ' || array_to_string(f.codes, ', ') || ' the stay groups lower than ' || f.drg
        || ' (' || f.severity || '), and no charge line treats it' AS message,
    coalesce(f.delta, 0) AS amount,
    NULL AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'regroup', billed: {drg: f.drg, severity: f.severity}, trail: t.trail,
             method: 'each secondary diagnosis with a grouping role removed in turn and the '
                     || 'stay regrouped with the rule set''s grouper'})
        AS evidence
FROM flagged AS f
JOIN trails AS t ON t.claim_id = f.claim_id
