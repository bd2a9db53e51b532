WITH deaths AS (
    SELECT claim_id, patient_id, hospital_id, discharge_date AS death_date, fund_ratio
    FROM claims
    WHERE list_contains($death_discharge_ways, discharge_way) AND discharge_date IS NOT NULL
),
late_lines AS (
    SELECT d.claim_id, list({line_id: l.line_id, amount: l.fund_amount} ORDER BY l.line_id)
               AS lines,
           sum(l.fund_amount) AS amount,
           list({line_id: l.line_id,
                 date: CAST(d.death_date + CAST(l.day_index - l.span_days AS INTEGER) AS DATE),
                 item_code: l.item_code, item_name: t.item_name, category: l.category,
                 quantity: l.quantity, amount: round(l.amount, 2)}
                ORDER BY l.day_index, l.line_id) AS shown
    FROM deaths AS d
    JOIN charges AS l ON l.claim_id = d.claim_id
    LEFT JOIN charge_typed AS t ON t.line_id = l.line_id
    WHERE l.day_index > l.span_days + $grace_days AND l.amount > 0
    GROUP BY d.claim_id
),
late_visits AS (
    SELECT d.claim_id, sum(coalesce(v.amount, 0)) * any_value(d.fund_ratio) AS amount,
           list({visit_id: v.visit_id, hospital_id: v.hospital_id, kind: v.kind,
                 date: v.visit_date, amount: v.amount, items: v.items}
                ORDER BY v.visit_date, v.visit_id) AS shown
    FROM deaths AS d
    JOIN visits AS v ON v.patient_id = d.patient_id
    WHERE v.visit_date > d.death_date + CAST($grace_days AS INTEGER)
      AND v.kind <> 'inpatient'
    GROUP BY d.claim_id
),
on_death_stay AS (
    SELECT
        d.claim_id,
        d.hospital_id,
        CAST(NULL AS VARCHAR) AS related_id,
        'after-death' AS key,
        'suspect' AS grade,
        CAST(coalesce(len(ll.shown), 0) + coalesce(len(lv.shown), 0) AS DOUBLE) AS value,
        0.0 AS threshold,
        'patient died on ' || d.death_date || ': '
            || coalesce(len(ll.shown), 0) || ' charge line(s) and '
            || coalesce(len(lv.shown), 0) || ' settlement(s) dated later' AS message,
        coalesce(ll.amount, 0) + coalesce(lv.amount, 0) AS amount,
        ll.lines,
        CAST(NULL AS VARCHAR) AS exemption,
        CAST(NULL AS VARCHAR) AS exemption_reason,
        to_json({kind: 'after_death', death_date: d.death_date, lines: ll.shown,
                 transactions: lv.shown}) AS evidence
    FROM deaths AS d
    LEFT JOIN late_lines AS ll ON ll.claim_id = d.claim_id
    LEFT JOIN late_visits AS lv ON lv.claim_id = d.claim_id
    WHERE ll.claim_id IS NOT NULL OR lv.claim_id IS NOT NULL
),
later_stays AS (
    SELECT
        c.claim_id,
        c.hospital_id,
        d.claim_id AS related_id,
        'after-death:' || d.claim_id AS key,
        'suspect' AS grade,
        CAST(date_diff('day', d.death_date, c.admit_date) AS DOUBLE) AS value,
        0.0 AS threshold,
        'admitted ' || date_diff('day', d.death_date, c.admit_date)
            || ' day(s) after the patient died in stay ' || d.claim_id || ' at '
            || d.hospital_id AS message,
        c.stay_payment AS amount,
        NULL AS lines,
        CAST(NULL AS VARCHAR) AS exemption,
        CAST(NULL AS VARCHAR) AS exemption_reason,
        to_json({kind: 'after_death', death_date: d.death_date, death_claim_id: d.claim_id,
                 death_hospital_id: d.hospital_id, admit_date: c.admit_date}) AS evidence
    FROM deaths AS d
    JOIN claims AS c ON c.patient_id = d.patient_id AND c.claim_id <> d.claim_id
    WHERE c.admit_date > d.death_date + CAST($grace_days AS INTEGER)
)
SELECT * FROM on_death_stay
UNION ALL
SELECT * FROM later_stays
