WITH item_kinds AS MATERIALIZED (
    -- classify each distinct item code once instead of every line
    SELECT item_code, item_hash,
           CASE WHEN len(list_filter($bed_item_prefixes, lambda p: starts_with(item_code, p))) > 0
                THEN 'bed'
                WHEN list_contains($nursing_level_items, item_code) THEN 'nursing' END AS kind
    FROM charge_items
),
unit_lines AS (
    SELECT l.claim_id, l.claim_key, l.line_id, l.day_index, l.item_code, l.item_hash,
           l.quantity, l.fund_amount, k.kind
    FROM charges AS l
    JOIN item_kinds AS k ON k.item_hash = l.item_hash AND k.item_code = l.item_code
    WHERE k.kind IS NOT NULL
),
totals AS (
    SELECT c.claim_id, u.claim_key, u.kind, u.units,
           greatest(c.los_days, 1)
               + CASE u.kind WHEN 'bed' THEN $bed_unit_allowance ELSE $nursing_unit_allowance END
               AS allowed
    FROM (SELECT claim_key, kind, sum(quantity) AS units FROM unit_lines
          GROUP BY claim_key, kind) AS u
    JOIN claims AS c ON c.row_index = u.claim_key
),
excess AS (
    SELECT u.claim_id, u.line_id, u.kind, u.quantity, u.fund_amount, t.units - t.allowed AS over,
           sum(u.quantity) OVER (PARTITION BY u.claim_key, u.kind
                                 ORDER BY u.day_index DESC, u.line_id DESC
                                 ROWS UNBOUNDED PRECEDING) AS cum_from_end
    FROM unit_lines AS u
    JOIN totals AS t ON t.claim_key = u.claim_key AND t.kind = u.kind
    WHERE t.units > t.allowed AND u.quantity > 0
),
excess_lines AS (
    SELECT claim_id, line_id,
           greatest(0, least(quantity, over - (cum_from_end - quantity))) * fund_amount / quantity
               AS amount
    FROM excess
),
nursing_net AS (
    SELECT claim_key, day_index, item_hash, any_value(item_code) AS item_code
    FROM unit_lines
    WHERE kind = 'nursing'
    GROUP BY claim_key, day_index, item_hash
    HAVING sum(quantity) > 0
),
two_level_keys AS (
    SELECT claim_key, day_index
    FROM nursing_net
    WHERE $flag_two_nursing_levels
    GROUP BY claim_key, day_index
    HAVING min(item_hash) <> max(item_hash)
),
two_level_days AS (
    SELECT n.claim_key, n.day_index, list(n.item_code ORDER BY n.item_code) AS levels
    FROM nursing_net AS n
    SEMI JOIN two_level_keys AS k ON k.claim_key = n.claim_key AND k.day_index = n.day_index
    GROUP BY n.claim_key, n.day_index
),
nursing_days AS (
    SELECT u.claim_id, d.day_index, d.levels,
           list({line_id: u.line_id, amount: u.fund_amount}
                ORDER BY u.fund_amount DESC, u.line_id)
               AS day_lines
    FROM two_level_days AS d
    JOIN unit_lines AS u
      ON u.claim_key = d.claim_key AND u.day_index = d.day_index AND u.kind = 'nursing'
    GROUP BY u.claim_id, d.day_index, d.levels
),
double_lines AS (
    SELECT claim_id, unnest(day_lines[2:]) AS line FROM nursing_days
),
claimed AS (
    SELECT claim_id, line_id, max(amount) AS amount
    FROM (SELECT claim_id, line_id, amount FROM excess_lines WHERE amount > 0
          UNION ALL
          SELECT claim_id, line.line_id, line.amount FROM double_lines)
    GROUP BY claim_id, line_id
),
claimed_per_claim AS (
    SELECT claim_id, list({line_id: line_id, amount: amount} ORDER BY line_id) AS lines,
           sum(amount) AS amount
    FROM claimed GROUP BY claim_id
),
flagged AS (
    SELECT claim_id FROM totals WHERE units > allowed
    UNION
    SELECT claim_id FROM nursing_days
)
SELECT
    f.claim_id,
    c.hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    coalesce(array_to_string(list_sort(list(t.kind || ':' || t.units)), ';'), '')
        || coalesce('|2levels:' || any_value(nd.n_days), '') AS key,
    'clue' AS grade,
    CAST(coalesce(max(t.units - t.allowed) FILTER (WHERE t.units > t.allowed), 0) AS DOUBLE)
        AS value,
    0.0 AS threshold,
    coalesce(array_to_string(list(t.kind || ' units ' || t.units || ' > allowed ' || t.allowed
                                  ORDER BY t.kind)
                             FILTER (WHERE t.units > t.allowed), '; '), '')
        || coalesce(CASE WHEN max(t.units - t.allowed) > 0 THEN '; ' ELSE '' END
                    || any_value(nd.n_days) || ' day(s) with two nursing levels', '') AS message,
    coalesce(any_value(k.amount), 0) AS amount,
    any_value(k.lines) AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'units',
             units: list({kind: t.kind, billed: t.units, allowed: t.allowed} ORDER BY t.kind),
             los_days: any_value(c.los_days),
             two_level_days: any_value(nd.days)}) AS evidence
FROM flagged AS f
JOIN claims AS c ON c.claim_id = f.claim_id
LEFT JOIN totals AS t ON t.claim_id = f.claim_id
LEFT JOIN (SELECT claim_id, count(*) AS n_days,
                  list({date: day_index, levels: levels} ORDER BY day_index) AS days
           FROM nursing_days GROUP BY claim_id) AS nd ON nd.claim_id = f.claim_id
LEFT JOIN claimed_per_claim AS k ON k.claim_id = f.claim_id
GROUP BY f.claim_id, c.hospital_id
