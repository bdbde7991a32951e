-- Plan periods now begin at midnight UTC of their anchor's day (so the daily rollups fall
-- wholly inside one period): each period's counter moves to its new key, units kept.
INSERT INTO period_usage (org_id, period_start, units)
SELECT org_id, period_start - (period_start % 86400000), SUM(units)
FROM period_usage
WHERE period_start % 86400000 <> 0
GROUP BY org_id, period_start - (period_start % 86400000)
ON CONFLICT (org_id, period_start) DO UPDATE SET units = period_usage.units + excluded.units;

DELETE FROM period_usage WHERE period_start % 86400000 <> 0;
