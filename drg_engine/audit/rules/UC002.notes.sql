WITH flips AS (
    SELECT f.claim_id, f.dropped_code
    FROM secondary_flips AS f
    ANTI JOIN dx_support AS s ON starts_with(f.dropped_code, s.dx_prefix)
    WHERE f.flips
),
codes AS (
    SELECT dropped_code, count(*) AS n FROM flips GROUP BY dropped_code
)
SELECT (SELECT count(DISTINCT claim_id) FROM flips)
       || ' stay(s) have a secondary diagnosis that alone lifts the group but has no entry in '
       || 'the support table, so they were not judged; most frequent: '
       || (SELECT string_agg(dropped_code || ' (' || n || ')', ', ' ORDER BY n DESC, dropped_code)
           FROM (SELECT * FROM codes ORDER BY n DESC, dropped_code LIMIT 5))
WHERE (SELECT count(*) FROM flips) > 0
