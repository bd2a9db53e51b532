-- findings_stage: every rule hit with its metadata, the exemption that applies (the rule's own,
-- else the first stay-level exemption the rule honours, in the rule's order), the escalation
-- of combined hanging-bed signals, and a stable id: the first 20 hex digits of
-- sha256(rule code | rule version | claim id or hospital id | key evidence).
CREATE OR REPLACE TABLE findings_stage AS
WITH meta AS (
    SELECT * FROM rule_meta
),
stay_exempt AS (
    SELECT h.hit_id, x.exemption, x.reason,
           list_position(m.exemptions, x.exemption) AS rank
    FROM hits AS h
    JOIN meta AS m ON m.rule_code = h.rule_code
    JOIN stay_exemptions AS x ON x.claim_id = h.claim_id
    WHERE list_contains(m.exemptions, x.exemption)
    QUALIFY row_number() OVER (PARTITION BY h.hit_id ORDER BY rank, x.reason) = 1
),
exempted AS (
    SELECT h.*, m.rule_name, m.rule_version, m.family, m.title, m.escalate_with, m.calendar,
           m.params_json,
           coalesce(h.exemption, s.exemption) AS exemption_final,
           CASE WHEN h.exemption IS NOT NULL THEN h.exemption_reason ELSE s.reason END
               AS exemption_reason_final
    FROM hits AS h
    JOIN meta AS m ON m.rule_code = h.rule_code
    LEFT JOIN stay_exempt AS s ON s.hit_id = h.hit_id
),
open_rules AS (
    SELECT claim_id, list(DISTINCT rule_code) AS codes
    FROM exempted
    WHERE exemption_final IS NULL AND claim_id IS NOT NULL
    GROUP BY claim_id
)
SELECT
    left(sha256(e.rule_code || '|' || e.rule_version || '|'
                || coalesce(e.claim_id, 'hospital:' || coalesce(e.hospital_id, '')) || '|'
                || coalesce(e.key, '')), 20) AS finding_id,
    e.rule_code, e.rule_name, e.rule_version, e.family, e.title,
    CASE WHEN e.exemption_final IS NULL THEN 'open' ELSE 'exempted' END AS status,
    CASE WHEN e.exemption_final IS NULL AND e.grade = 'clue'
              AND len(list_intersect(e.escalate_with, coalesce(o.codes, []))) > 0
         THEN 'suspect' ELSE e.grade END AS grade,
    CASE WHEN e.exemption_final IS NULL AND e.grade = 'clue'
              AND len(list_intersect(e.escalate_with, coalesce(o.codes, []))) > 0
         THEN array_to_string(list_sort(list_intersect(e.escalate_with, o.codes)), ',')
    END AS escalated_by,
    e.claim_id, e.related_id,
    coalesce(e.hospital_id, c.hospital_id) AS hospital_id,
    e.key, e.value, e.threshold, e.message,
    greatest(coalesce(e.amount, 0), 0) AS amount_claimed,
    e.lines,
    e.exemption_final AS exemption,
    e.exemption_reason_final AS exemption_reason,
    e.calendar, e.params_json, e.evidence,
    c.stay_payment
FROM exempted AS e
LEFT JOIN open_rules AS o ON o.claim_id = e.claim_id
LEFT JOIN claims_all AS c ON c.claim_id = e.claim_id;

-- Amount at risk counted once: per claim, open findings in priority order (suspect first, then
-- the larger claimed amount, then rule code); a charge line goes to the first finding claiming
-- it; the running total never exceeds the stay's fund payment.
CREATE OR REPLACE TABLE attributed AS
WITH ranked AS (
    SELECT finding_id, claim_id, amount_claimed, lines,
           CAST(stay_payment AS DECIMAL(18, 4)) AS stay_payment,
           row_number() OVER (PARTITION BY claim_id
                              ORDER BY (grade = 'suspect') DESC, amount_claimed DESC,
                                       rule_code, finding_id) AS priority
    FROM findings_stage
    WHERE status = 'open'
),
line_claims AS (
    SELECT finding_id, claim_id, priority, unnest(lines) AS line
    FROM ranked
    WHERE lines IS NOT NULL
),
line_owner AS (
    SELECT finding_id, CAST(line.amount AS DECIMAL(18, 4)) AS amount,
           row_number() OVER (PARTITION BY claim_id, line.line_id ORDER BY priority) AS claim_rank
    FROM line_claims
),
line_sums AS (
    SELECT finding_id, sum(amount) FILTER (WHERE claim_rank = 1) AS kept, sum(amount) AS listed
    FROM line_owner
    GROUP BY finding_id
),
attributable AS (
    SELECT r.*,
           CASE WHEN r.lines IS NULL THEN CAST(r.amount_claimed AS DECIMAL(18, 4))
                ELSE coalesce(s.kept, 0) + greatest(0, CAST(r.amount_claimed AS DECIMAL(18, 4))
                                                       - coalesce(s.listed, 0))
           END AS attributable
    FROM ranked AS r
    LEFT JOIN line_sums AS s ON s.finding_id = r.finding_id
),
running AS (
    SELECT *, sum(attributable) OVER (PARTITION BY claim_id ORDER BY priority
                                      ROWS UNBOUNDED PRECEDING) AS cumulative
    FROM attributable
)
SELECT
    finding_id,
    priority,
    CASE WHEN claim_id IS NULL OR stay_payment IS NULL THEN attributable
         ELSE least(cumulative, stay_payment) - least(cumulative - attributable, stay_payment)
    END AS amount_at_risk
FROM running;

-- Day calendars for the findings of rules that show one, from the gated charge lines.
CREATE OR REPLACE TABLE calendars AS
WITH wanted AS (
    SELECT DISTINCT claim_id FROM findings_stage WHERE calendar AND claim_id IS NOT NULL
),
cells AS (
    SELECT l.claim_id, l.day_index AS d, coalesce(l.category, '??') AS category,
           round(sum(l.amount), 2) AS amount
    FROM charges AS l
    SEMI JOIN wanted AS w ON w.claim_id = l.claim_id
    GROUP BY ALL
),
spine AS (
    SELECT c.claim_id, unnest(range(0, c.span_days + 1)) AS d
    FROM claims_all AS c SEMI JOIN wanted AS w ON w.claim_id = c.claim_id
    WHERE c.span_days BETWEEN 0 AND 3650
    UNION
    SELECT claim_id, d FROM cells
),
days AS (
    SELECT
        p.claim_id, p.d,
        CAST(c.admit_date + CAST(p.d AS INTEGER) AS DATE) AS date,
        p.d > 0 AND p.d < c.span_days AS is_interior,
        p.d BETWEEN 0 AND c.span_days AS is_inside,
        p.d >= 0 AND p.d <= c.span_days AND b.claim_key IS NULL AS is_empty,
        list({c: x.category, a: x.amount} ORDER BY x.category)
            FILTER (WHERE x.category IS NOT NULL) AS cells
    FROM spine AS p
    JOIN claims_all AS c ON c.claim_id = p.claim_id
    LEFT JOIN busy_days AS b ON b.claim_key = c.row_index AND b.d = p.d
    LEFT JOIN cells AS x ON x.claim_id = p.claim_id AND x.d = p.d
    GROUP BY p.claim_id, p.d, c.admit_date, c.span_days, b.claim_key
)
SELECT
    claim_id,
    to_json({days: list({d: d, date: date, dow: isodow(date),
                         holiday: list_contains($holidays, strftime(date, '%Y-%m-%d')),
                         interior: is_interior, inside: is_inside, empty: is_empty,
                         cells: cells}
                        ORDER BY d)}) AS calendar
FROM days
GROUP BY claim_id;

CREATE OR REPLACE TABLE findings AS
SELECT
    f.finding_id,
    f.rule_code, f.rule_name, f.rule_version, f.family, f.title,
    f.status, f.grade, f.escalated_by,
    f.claim_id, f.related_id, c.patient_id, f.hospital_id,
    coalesce(c.hospital_level, h.level) AS hospital_level,
    c.dept, c.drg, c.drg_name, c.severity, c.admit_date, c.discharge_date,
    coalesce(c.month, NULL) AS month, c.los_days,
    CAST(round(c.total_cost, 2) AS DECIMAL(18, 2)) AS total_cost,
    CAST(round(c.stay_payment, 2) AS DECIMAL(18, 2)) AS stay_payment,
    c.payment_source,
    f.value, f.threshold, f.message,
    CAST(round(f.amount_claimed, 2) AS DECIMAL(18, 2)) AS amount_claimed,
    CAST(round(coalesce(a.amount_at_risk, 0), 2) AS DECIMAL(18, 2)) AS amount_at_risk,
    a.priority AS priority_in_claim,
    f.exemption, f.exemption_reason,
    f.params_json AS params,
    CASE WHEN k.calendar IS NOT NULL
         THEN json_merge_patch(f.evidence, json_object('calendar', json(k.calendar)))
         ELSE json(f.evidence) END AS evidence,
    f.key
FROM findings_stage AS f
LEFT JOIN attributed AS a ON a.finding_id = f.finding_id
LEFT JOIN claims_all AS c ON c.claim_id = f.claim_id
LEFT JOIN hospitals AS h ON h.hospital_id = f.hospital_id
LEFT JOIN calendars AS k ON k.claim_id = f.claim_id AND f.calendar
ORDER BY f.status DESC, (f.grade = 'suspect') DESC, amount_at_risk DESC, f.rule_code,
         f.finding_id;
