-- hospital_cc_rates: each hospital's CC/MCC share in ADRGs that split by severity, against the
-- share expected from same-level peer hospitals (leave-one-hospital-out, indirectly
-- standardised by ADRG): observed, expected, ratio and z-score. The z-score's variance counts
-- both the hospital's binomial noise and the uncertainty of the peer rate (n / peer_n).
-- hospital_cc_monthly: the same by discharge month (the trend). Used by UC001 and by the
-- report's rate-vs-peers chart.
CREATE OR REPLACE TABLE cc_base AS
SELECT hospital_id, hospital_level, adrg, month,
       CAST(severity IN ('CC', 'MCC') AS INTEGER) AS cc
FROM claims
WHERE status = 'SUCCESS' AND substr(drg, 4, 1) IN ('1', '3', '5') AND hospital_id IS NOT NULL;

CREATE OR REPLACE TABLE cc_peer_rates AS
WITH level_adrg AS (
    SELECT hospital_level, adrg, count(*) AS n, sum(cc) AS k FROM cc_base GROUP BY ALL
),
hospital_adrg AS (
    SELECT hospital_id, hospital_level, adrg, count(*) AS n, sum(cc) AS k FROM cc_base GROUP BY ALL
)
SELECT h.*, a.n - h.n AS peer_n, (a.k - h.k) / nullif(a.n - h.n, 0) AS peer_rate
FROM hospital_adrg AS h
JOIN level_adrg AS a ON a.hospital_level = h.hospital_level AND a.adrg = h.adrg;

CREATE OR REPLACE TABLE hospital_cc_rates AS
SELECT
    hospital_id,
    any_value(hospital_level) AS hospital_level,
    sum(n) AS n,
    sum(k) AS observed,
    sum(n * peer_rate) AS expected,
    sum(k) / nullif(sum(n * peer_rate), 0) AS ratio,
    (sum(k) - sum(n * peer_rate))
        / nullif(sqrt(sum(n * peer_rate * (1 - peer_rate) * (1 + n / peer_n))), 0) AS z,
    sum(k) / sum(n) AS rate,
    sum(n * peer_rate) / sum(n) AS peer_rate
FROM cc_peer_rates
WHERE peer_rate IS NOT NULL
GROUP BY hospital_id;

CREATE OR REPLACE TABLE hospital_cc_monthly AS
SELECT b.hospital_id, b.month, count(*) AS n, sum(b.cc) AS observed,
       sum(p.peer_rate) AS expected
FROM cc_base AS b
JOIN cc_peer_rates AS p ON p.hospital_id = b.hospital_id AND p.adrg = b.adrg
WHERE p.peer_rate IS NOT NULL
GROUP BY b.hospital_id, b.month;
