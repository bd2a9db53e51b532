-- The data-quality gate: rules see only claims (and charge lines) that passed the blocking
-- checks. `dq_blocked(claim_id, scope)` holds the blocking findings of the DQ rules. The DQ
-- rules have read every line already, so unreadable, orphan and blocked lines are deleted
-- (cheaper than copying ten million lines) and `charges` is the remaining table.
CREATE OR REPLACE TABLE claims AS
SELECT c.*
FROM claims_all AS c
ANTI JOIN (SELECT DISTINCT claim_id FROM dq_blocked WHERE scope = 'all') AS b
    ON b.claim_id = c.claim_id;

DELETE FROM charge_lines
WHERE NOT parsed OR NOT has_claim
   OR claim_id IN (SELECT claim_id FROM dq_blocked);

CREATE OR REPLACE VIEW charges AS SELECT * FROM charge_lines;

CREATE OR REPLACE TABLE charge_claims AS
SELECT t.claim_id, c.row_index AS claim_key, t.n_lines, t.net_amount, c.span_days
FROM claim_line_totals AS t
JOIN claims AS c ON c.claim_id = t.claim_id
ANTI JOIN (SELECT DISTINCT claim_id FROM dq_blocked) AS b ON b.claim_id = t.claim_id;
