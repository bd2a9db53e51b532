-- stay_exemptions: stay-level exemptions (one row per stay and exemption that applies) with a
-- reason a reviewer can check. Each rule lists the exemptions it honours; rule-specific ones
-- (pre-operative wait, ordered transfer) are decided inside the rule's own query.
CREATE OR REPLACE TABLE stay_exemptions AS
SELECT claim_id, 'rehabilitation' AS exemption, 'discharge department ' || dept AS reason
FROM claims WHERE list_contains($rehabilitation_depts, dept)
UNION ALL
SELECT claim_id, 'rehabilitation', 'principal diagnosis ' || principal_dx
FROM claims
WHERE len(list_filter($rehabilitation_dx_prefixes, lambda p: starts_with(principal_dx, p))) > 0
UNION ALL
SELECT claim_id, 'psychiatry', 'discharge department ' || dept
FROM claims WHERE list_contains($psychiatry_depts, dept)
UNION ALL
SELECT claim_id, 'psychiatry', 'principal diagnosis ' || principal_dx
FROM claims
WHERE len(list_filter($psychiatry_dx_prefixes, lambda p: starts_with(principal_dx, p))) > 0
UNION ALL
SELECT claim_id, 'hospice', 'discharge department ' || dept
FROM claims WHERE list_contains($hospice_depts, dept)
UNION ALL
SELECT claim_id, 'hospice', 'principal diagnosis ' || principal_dx
FROM claims
WHERE len(list_filter($hospice_dx_prefixes, lambda p: starts_with(principal_dx, p))) > 0
UNION ALL
SELECT claim_id, 'planned-chemo-cycle', 'principal diagnosis ' || principal_dx
    || ' is a planned treatment cycle'
FROM claims
WHERE len(list_filter($planned_cycle_dx_prefixes, lambda p: starts_with(principal_dx, p))) > 0
UNION ALL
SELECT claim_id, 'planned-chemo-cycle', 'planned readmission flag set on the claim'
FROM claims WHERE planned_readmission
UNION ALL
SELECT c.claim_id, 'batched-posting', 'hospital ' || c.hospital_id
    || ' posts charges in batches (data-quality finding DQ009): day-level patterns are unreliable'
FROM claims AS c
SEMI JOIN dq_findings AS f ON f.rule_code = 'DQ009' AND f.hospital_id = c.hospital_id;
