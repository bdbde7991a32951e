-- A workspace's metrics are reached from its profiles down (campaigns, ad sets, ads), so that a
-- tool call reads its own rows instead of scanning every organization's daily metrics.
CREATE INDEX ad_sets_campaign ON ad_sets (campaign_id);
CREATE INDEX creatives_campaign ON creatives (campaign_id);
CREATE INDEX ads_ad_set ON ads (ad_set_id);
CREATE INDEX conversions_customer ON conversions (customer_id, day);
