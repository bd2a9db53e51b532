SELECT
    l.claim_id,
    any_value(c.hospital_id) AS hospital_id,
    CAST(NULL AS VARCHAR) AS related_id,
    'after-discharge' AS key,
    'suspect' AS grade,
    CAST(max(l.day_index - c.span_days) AS DOUBLE) AS value,
    CAST($grace_days AS DOUBLE) AS threshold,
    count(*) || ' line(s) dated up to ' || max(l.day_index - c.span_days)
        || ' day(s) after discharge, ' || round(sum(l.amount), 2) AS message,
    sum(l.fund_amount) AS amount,
    list({line_id: l.line_id, amount: l.fund_amount} ORDER BY l.line_id)
               AS lines,
    CAST(NULL AS VARCHAR) AS exemption,
    CAST(NULL AS VARCHAR) AS exemption_reason,
    to_json({kind: 'lines', discharge_date: any_value(c.discharge_date),
             lines: list({line_id: l.line_id,
                          date: CAST(c.admit_date + CAST(l.day_index AS INTEGER) AS DATE),
                          day: l.day_index, item_code: l.item_code, item_name: t.item_name,
                          category: l.category, quantity: l.quantity,
                          amount: round(l.amount, 2)}
                         ORDER BY l.day_index, l.line_id)}) AS evidence
FROM (
    SELECT * FROM charges
    WHERE day_index > span_days + $grace_days AND amount > 0 AND NOT is_discharge_med
) AS l
JOIN claims AS c ON c.claim_id = l.claim_id
LEFT JOIN charge_typed AS t ON t.line_id = l.line_id
WHERE NOT list_contains($death_discharge_ways, c.discharge_way)
GROUP BY l.claim_id
