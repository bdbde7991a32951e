//! The deterministic demo dataset (spec §9): 90 days of believable marketing data for two
//! brands, loaded into a new organization's first workspace so every tool answers with real
//! numbers. The same day always yields the same data (and the same moment the same website
//! traffic: `web`).

use crate::model::{day_of, day_string};
use crate::storage::{push_placeholders, Engine};

use super::ServiceResult;

mod web;

pub const DAYS: i64 = 90;

/// SplitMix64: tiny, fast and stable across versions, which a demo dataset needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

struct Brand {
    name: &'static str,
    domain: &'static str,
    aov: f64,
    campaigns: [(&'static str, &'static str, &'static str); 3],
    /// The website's landing pages, search keywords and referring sites, with weights.
    pages: [(&'static str, u64); 6],
    keywords: [(&'static str, u64); 5],
    referrers: [(&'static str, u64); 3],
}

const BRANDS: [Brand; 2] = [
    Brand {
        name: "Northwind Coffee",
        domain: "northwindcoffee.com",
        aov: 38.0,
        campaigns: [
            ("Spring Roast Launch", "meta", "conversions"),
            ("Brand Search", "google", "conversions"),
            ("Cold Brew Retargeting", "meta", "retargeting"),
        ],
        pages: [
            ("/", 40),
            ("/shop", 18),
            ("/products/spring-roast", 14),
            ("/products/cold-brew-kit", 12),
            ("/subscribe", 9),
            ("/blog/brewing-guide", 7),
        ],
        keywords: [
            ("northwind coffee", 35),
            ("specialty coffee beans", 22),
            ("cold brew kit", 18),
            ("coffee subscription", 15),
            ("light roast coffee", 10),
        ],
        referrers: [
            ("coffeereview.com", 50),
            ("producthunt.com", 30),
            ("medium.com", 20),
        ],
    },
    Brand {
        name: "Lumen Skincare",
        domain: "lumenskin.co",
        aov: 64.0,
        campaigns: [
            ("Glow Serum Prospecting", "meta", "conversions"),
            ("Skincare Search", "google", "conversions"),
            ("Creator Collabs", "tiktok", "awareness"),
        ],
        pages: [
            ("/", 36),
            ("/products/glow-serum", 22),
            ("/shop", 16),
            ("/routine-quiz", 12),
            ("/products/night-cream", 8),
            ("/journal/skin-barrier", 6),
        ],
        keywords: [
            ("lumen skincare", 30),
            ("vitamin c serum", 25),
            ("glow serum", 20),
            ("skincare routine", 15),
            ("night cream sensitive skin", 10),
        ],
        referrers: [
            ("beautyjournal.com", 45),
            ("allure.com", 35),
            ("medium.com", 20),
        ],
    },
];

const FIRST: [&str; 16] = [
    "Ana", "Bruno", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hugo", "Isabel", "Jonas",
    "Keiko", "Liam", "Maya", "Nikhil", "Olivia", "Pedro",
];
const LAST: [&str; 12] = [
    "Silva", "Müller", "Okafor", "Nguyen", "García", "Rossi", "Kowalski", "Haddad", "Tanaka",
    "Smith", "Dubois", "Costa",
];

/// A value to bind. Nulls are typed: PostgreSQL keeps the parameter types of the statement's
/// first use, and a batch's next chunk must bind the same.
enum Cell {
    Int(i64),
    NullInt,
    Text(String),
    NullText,
}

async fn insert_rows(
    conn: &mut sqlx::AnyConnection,
    table_and_columns: &str,
    width: usize,
    rows: Vec<Vec<Cell>>,
) -> ServiceResult<()> {
    let engine = Engine::of(conn);
    for chunk in rows.chunks(400) {
        let mut sql = format!("INSERT INTO {table_and_columns} VALUES ");
        push_placeholders(&mut sql, chunk.len(), width, 1, engine);
        let mut query = sqlx::query(&sql);
        for cell in chunk.iter().flatten() {
            query = match cell {
                Cell::Int(v) => query.bind(*v),
                Cell::NullInt => query.bind(None::<i64>),
                Cell::Text(v) => query.bind(v.clone()),
                Cell::NullText => query.bind(None::<String>),
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_returning(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    values: &[Cell],
) -> ServiceResult<i64> {
    let mut query = sqlx::query_as::<_, (i64,)>(sql);
    for cell in values {
        query = match cell {
            Cell::Int(v) => query.bind(*v),
            Cell::NullInt => query.bind(None::<i64>),
            Cell::Text(v) => query.bind(v.clone()),
            Cell::NullText => query.bind(None::<String>),
        };
    }
    Ok(query.fetch_one(&mut *conn).await?.0)
}

/// Fills `workspace_id` with the 90 days before the day of `now` (milliseconds), and the
/// website traffic up to `now`.
pub async fn load(
    conn: &mut sqlx::AnyConnection,
    workspace_id: i64,
    now: i64,
) -> ServiceResult<()> {
    let today = day_of(now);
    let mut rng = Rng(0x7011_6A7E);
    // Its own stream, so that the marketing data stays what it was before the traffic came.
    let mut web_rng = Rng(0x3EB_7124_FF1C);
    let first_day = today - DAYS;
    for brand in &BRANDS {
        let profile_id = insert_returning(
            conn,
            "INSERT INTO profiles (workspace_id, name, domain) VALUES ($1, $2, $3) RETURNING id",
            &[
                Cell::Int(workspace_id),
                Cell::Text(brand.name.into()),
                Cell::Text(brand.domain.into()),
            ],
        )
        .await?;
        let mut metrics = Vec::new();
        let mut campaign_ids = Vec::new();
        for (c, (name, channel, objective)) in brand.campaigns.iter().enumerate() {
            let campaign_id = insert_returning(
                conn,
                "INSERT INTO campaigns (profile_id, name, channel, objective) VALUES ($1, $2, $3, $4) RETURNING id",
                &[Cell::Int(profile_id), Cell::Text((*name).into()), Cell::Text((*channel).into()), Cell::Text((*objective).into())],
            )
            .await?;
            campaign_ids.push((campaign_id, *channel));
            let mut creative_ids = Vec::new();
            for (k, format) in ["video", "image"].iter().enumerate() {
                let headline = rng.pick(&[
                    "Fresh every morning",
                    "Feel the glow",
                    "Made to last",
                    "Try it risk-free",
                    "Loved by 10,000 customers",
                ]);
                let id = insert_returning(
                    conn,
                    "INSERT INTO creatives (campaign_id, name, format, headline) VALUES ($1, $2, $3, $4) RETURNING id",
                    &[Cell::Int(campaign_id), Cell::Text(format!("{name} – {format} {}", k + 1)), Cell::Text((*format).into()), Cell::Text(headline.into())],
                )
                .await?;
                creative_ids.push(id);
            }
            for audience in ["Broad 25-44", "Lookalike 1%"] {
                let ad_set_id = insert_returning(
                    conn,
                    "INSERT INTO ad_sets (campaign_id, name, audience) VALUES ($1, $2, $3) RETURNING id",
                    &[Cell::Int(campaign_id), Cell::Text(format!("{name} · {audience}")), Cell::Text(audience.into())],
                )
                .await?;
                for (k, creative_id) in creative_ids.iter().enumerate() {
                    let ad_id = insert_returning(
                        conn,
                        "INSERT INTO ads (ad_set_id, creative_id, name) VALUES ($1, $2, $3) RETURNING id",
                        &[Cell::Int(ad_set_id), Cell::Int(*creative_id), Cell::Text(format!("{audience} / creative {}", k + 1))],
                    )
                    .await?;
                    let base_impressions = match *channel {
                        "google" => 1_800.0,
                        "tiktok" => 6_000.0,
                        _ => 4_000.0,
                    };
                    let base_ctr = match *channel {
                        "google" => 0.045,
                        "tiktok" => 0.009,
                        _ => 0.014,
                    } * (1.0 + 0.15 * k as f64);
                    let cpc = match *channel {
                        "google" => 0.95,
                        "tiktok" => 0.35,
                        _ => 0.62,
                    };
                    let cvr = match *objective {
                        "awareness" => 0.008,
                        "retargeting" => 0.06,
                        _ => 0.03,
                    };
                    for d in 0..DAYS {
                        let weekday = (first_day + d + 4).rem_euclid(7); // 0 = Sunday
                        let season = if weekday == 0 || weekday == 6 {
                            0.8
                        } else {
                            1.05
                        };
                        let noise = 0.85 + 0.3 * rng.unit();
                        // The first video creative of each brand's first campaign wears out.
                        let fatigue = if c == 0 && k == 0 {
                            1.0 - 0.55 * d as f64 / DAYS as f64
                        } else {
                            1.0
                        };
                        // One spend spike 30 days before today: the anomaly to find.
                        let spike = if c == 0 && d == DAYS - 30 { 3.0 } else { 1.0 };
                        let impressions = (base_impressions * season * noise * spike).round();
                        let clicks =
                            (impressions * base_ctr * fatigue * (0.9 + 0.2 * rng.unit())).round();
                        let spend = (clicks * cpc * (0.9 + 0.2 * rng.unit()) * 100.0).round();
                        let conversions = (clicks * cvr * (0.7 + 0.6 * rng.unit())).round();
                        let revenue =
                            (conversions * brand.aov * (0.8 + 0.4 * rng.unit()) * 100.0).round();
                        metrics.push(vec![
                            Cell::Int(ad_id),
                            Cell::Text(day_string(first_day + d)),
                            Cell::Int(impressions as i64),
                            Cell::Int(clicks as i64),
                            Cell::Int(spend as i64),
                            Cell::Int(conversions as i64),
                            Cell::Int(revenue as i64),
                        ]);
                    }
                }
            }
        }
        insert_rows(conn, "daily_metrics (ad_id, day, impressions, clicks, spend_cents, conversions, revenue_cents)", 7, metrics).await?;

        // Customers, their journeys and conversions.
        let mut touchpoints = Vec::new();
        let mut conversions = Vec::new();
        let mut customers = Vec::new();
        for n in 0..120 {
            let first = rng.pick(&FIRST);
            let last = rng.pick(&LAST);
            let seen = first_day + rng.below((DAYS - 10) as u64) as i64;
            let email = format!(
                "{}.{}{n}@example.com",
                first.to_lowercase(),
                ascii_lower(last)
            );
            let phone = format!("+1 555 01{:02} {:04}", rng.below(100), rng.below(10_000));
            let customer_id = insert_returning(
                conn,
                "INSERT INTO customers (profile_id, full_name, email, phone, first_seen) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[Cell::Int(profile_id), Cell::Text(format!("{first} {last}")), Cell::Text(email), Cell::Text(phone), Cell::Text(day_string(seen))],
            )
            .await?;
            customers.push((customer_id, seen));
            let touches = 1 + rng.below(4) as i64;
            let mut day = seen;
            let mut last_channel = "organic";
            for _ in 0..touches {
                let roll = rng.below(10);
                let (campaign, channel) = match roll {
                    0..=5 => {
                        let (id, channel) = campaign_ids[rng.below(3) as usize];
                        (Some(id), format!("{channel}_ads"))
                    }
                    6 => (None, "email".to_string()),
                    7 | 8 => (None, "whatsapp".to_string()),
                    _ => (None, "organic".to_string()),
                };
                last_channel = if channel == "whatsapp" {
                    "whatsapp"
                } else {
                    "website"
                };
                touchpoints.push(vec![
                    Cell::Int(customer_id),
                    campaign.map(Cell::Int).unwrap_or(Cell::NullInt),
                    Cell::Text(channel),
                    Cell::Text(day_string(day)),
                ]);
                day = (day + rng.below(4) as i64).min(today - 1);
            }
            if rng.below(10) < 6 {
                let value = ((brand.aov * (0.6 + 0.9 * rng.unit())) * 100.0).round() as i64;
                // Website orders are paid at checkout; a WhatsApp order is paid on delivery.
                let paid = last_channel == "website" || web_rng.below(4) > 0;
                conversions.push(vec![
                    Cell::Int(customer_id),
                    Cell::Int(profile_id),
                    Cell::Text(day_string(day)),
                    Cell::Int(value),
                    Cell::Int(if paid { value } else { 0 }),
                    Cell::Text(last_channel.into()),
                ]);
            }
        }
        insert_rows(
            conn,
            "touchpoints (customer_id, campaign_id, channel, day)",
            4,
            touchpoints,
        )
        .await?;
        insert_rows(
            conn,
            "conversions (customer_id, profile_id, day, value_cents, cash_cents, source)",
            6,
            conversions,
        )
        .await?;
        web::load(conn, &mut web_rng, profile_id, brand, &customers, now).await?;
    }
    Ok(())
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'ü' => 'u',
            'í' | 'ì' => 'i',
            'á' => 'a',
            _ => c,
        })
        .collect::<String>()
        .to_lowercase()
}
