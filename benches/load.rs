//! `scripts/bench`: Tollgate's performance figures, printed in one run on this machine.
//!
//! For each engine (SQLite, PostgreSQL) it seeds a fresh database (an Enterprise organization
//! with the demo workspace and many workspace tokens, so that the per-token cap of 120 units a
//! minute is enforced but not hit), starts the real server of the benchmark build, and drives
//! it with `wrk` on 127.0.0.1:
//! - `tools/call` of `get_performance_summary` (1 unit, analytics:read, one day) through `/mcp`
//!   with full enforcement, at maximum throughput and again paced to half of it;
//! - the same tool on `/bench/bare/mcp` (no enforcement; benchmark build only);
//! - the CPU time per call of both, the server's and the database's (from `/proc`): where the
//!   ratio of throughputs is lower than the inverse ratio of CPU, the calls waited, not worked;
//! - token verification per call, cache hit and miss (in process);
//! - the usage page's server render with 1 and 10 million usage events.
//!
//! Then a reference server on the official TypeScript SDK (`end2end/bench/reference-server.mjs`,
//! one trivial tool, no auth) under the same load generator.
//!
//! Options: `--engines sqlite,postgres` `--seconds 10` `--connections 32` `--events 1000000,10000000`
//! `--rounds 3` (enforced and bare alternate that many times: these machines' speed drifts by
//! more than 10 % within a minute, so one run of each can say little of their ratio).
//! `--soak SECONDS` instead runs enforced calls at full speed on SQLite for that long and prints
//! the server's resident memory every 10 seconds.

#[path = "../tests/integration/sign_in.rs"]
mod sign_in;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tollgate::config::Environment;
use tollgate::model::{Binding, Scope};
use tollgate::services::organizations::{self, Actor};
use tollgate::services::{accounts, billing, tokens};
use tollgate::storage::{now_ms, Db, Engine};

const TOKENS: usize = 5_000;
const PASSWORD: &str = "benchmark password";
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// wrk's threads (one is plenty for these rates); the server gets the rest of the machine.
const WRK_THREADS: u32 = 1;

struct Options {
    engines: Vec<Engine>,
    seconds: u32,
    rounds: u32,
    connections: u32,
    events: Vec<i64>,
    soak: Option<u32>,
}

fn options() -> Options {
    let mut options = Options {
        engines: vec![Engine::Sqlite, Engine::Postgres],
        seconds: 10,
        rounds: 3,
        connections: 32,
        events: vec![1_000_000, 10_000_000],
        soak: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--engines" => {
                options.engines = value
                    .split(',')
                    .map(|e| match e {
                        "sqlite" => Engine::Sqlite,
                        "postgres" => Engine::Postgres,
                        other => panic!("unknown engine {other}"),
                    })
                    .collect()
            }
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--rounds" => options.rounds = value.parse().expect("--rounds N"),
            "--connections" => options.connections = value.parse().expect("--connections N"),
            "--events" => {
                options.events = value
                    .split(',')
                    .map(|n| n.parse().expect("--events N,M"))
                    .collect()
            }
            "--soak" => options.soak = Some(value.parse().expect("--soak SECONDS")),
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    options
}

#[tokio::main]
async fn main() {
    let options = options();
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is needed: scripts/bench installs it"
    );
    // Checked first: the reference runs last, after every engine's figures.
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("end2end/node_modules/@modelcontextprotocol/sdk");
    assert!(
        sdk.is_dir(),
        "the TypeScript reference needs end2end's npm packages: scripts/bench installs them"
    );
    let work = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    if let Some(seconds) = options.soak {
        soak(seconds, &options, &work).await;
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    let mut report = String::new();
    let mut best_enforced = 0.0f64;
    for engine in &options.engines {
        let figures = bench_engine(*engine, &options, &work).await;
        best_enforced = best_enforced.max(figures);
        println!();
    }
    let reference = bench_reference(&options, &work);
    if let Some(reference) = reference {
        let _ = writeln!(
            report,
            "TypeScript SDK reference (stateless, one trivial tool, no auth): {:.0} req/s, p50 {}, p99 {}",
            reference.rps, reference.p50, reference.p99
        );
        let _ = writeln!(
            report,
            "Tollgate enforced (best engine) / TypeScript reference: {:.2}x",
            best_enforced / reference.rps
        );
    }
    println!("{report}");
    let _ = std::fs::remove_dir_all(&work);
}

/// Prints the figures of one engine; returns its enforced maximum throughput.
async fn bench_engine(engine: Engine, options: &Options, work: &Path) -> f64 {
    let name = match engine {
        Engine::Sqlite => "SQLite",
        Engine::Postgres => "PostgreSQL",
    };
    println!("== {name}");
    let (url, drop_pg) = fresh_database(engine, work).await;
    let db = Db::connect(&url)
        .await
        .expect("open the benchmark database");
    let fixture = seed(&db).await;
    let port = free_port();
    let server = start_server(&url, port, &fixture);
    wait_ready(port).await;

    let body = call_body(&fixture);
    let script = wrk_script(work, &fixture.tokens, &body);
    let enforced_url = format!("http://127.0.0.1:{port}/mcp");
    let bare_url = format!("http://127.0.0.1:{port}/bench/bare/mcp");
    // Warm both paths (connections, caches, SQLite pages) before measuring; the enforced one
    // until every token has been used and the first uses' writes (last use, audit) are done:
    // they made the first round slower than the others.
    run_wrk(&enforced_url, &script, options.connections, 6, None);
    run_wrk(&bare_url, &script, options.connections, 2, None);

    let (mut enforced_runs, mut bare_runs) = (Vec::new(), Vec::new());
    let (mut ratios, mut rounds) = (Vec::new(), Vec::new());
    let server_pid = server.0.id();
    for _ in 0..options.rounds.max(1) {
        let run = |url: &str| {
            let before = cpu_seconds(server_pid);
            let run = run_wrk(url, &script, options.connections, options.seconds, None);
            let measured = before
                .zip(cpu_seconds(server_pid))
                .filter(|_| run.requests > 0);
            let cpu = measured.map(|(before, after)| CpuPerCall {
                server_us: (after.0 - before.0) * 1e6 / run.requests as f64,
                database_us: (after.1 - before.1) * 1e6 / run.requests as f64,
            });
            Run { cpu, ..run }
        };
        let (enforced, bare) = (run(&enforced_url), run(&bare_url));
        let ratio = enforced.rps / bare.rps;
        rounds.push(format!(
            "{ratio:.2} ({:.0} / {:.0})",
            enforced.rps, bare.rps
        ));
        ratios.push(ratio);
        enforced_runs.push(enforced);
        bare_runs.push(bare);
    }
    let (enforced, bare) = (median_run(enforced_runs), median_run(bare_runs));
    ratios.sort_by(f64::total_cmp);
    let half_rate = enforced.rps / 2.0;
    let half = run_wrk(
        &enforced_url,
        &script,
        options.connections,
        options.seconds,
        Some(half_rate),
    );
    println!(
        "tools/call enforced, max:      {:>7.0} req/s  p50 {:>8}  p99 {:>8}  errors {}",
        enforced.rps, enforced.p50, enforced.p99, enforced.errors
    );
    println!(
        "tools/call bare, max:          {:>7.0} req/s  p50 {:>8}  p99 {:>8}  errors {}",
        bare.rps, bare.p50, bare.p99, bare.errors
    );
    println!(
        "enforced at half max ({:.0}/s): {:>7.0} req/s  p50 {:>8}  p99 {:>8}  errors {}",
        half_rate, half.rps, half.p50, half.p99, half.errors
    );
    if let (Some(e), Some(b)) = (&enforced.cpu, &bare.cpu) {
        let (e_all, b_all) = (e.server_us + e.database_us, b.server_us + b.database_us);
        println!(
            "CPU per call at max (server + database): enforced {e_all:.0} µs ({:.0} + {:.0}), \
             bare {b_all:.0} µs ({:.0} + {:.0}): bare / enforced {:.2}",
            e.server_us,
            e.database_us,
            b.server_us,
            b.database_us,
            b_all / e_all
        );
    }
    println!(
        "enforced / bare: {:.2}x (median of {} alternating rounds, in order: {})",
        ratios[ratios.len() / 2],
        ratios.len(),
        rounds.join(", ")
    );

    verification_cost(&url, &fixture).await;
    drop(server);
    usage_page(engine, &db, &url, &fixture, &options.events).await;
    db.pool.close().await;
    if let Some(name) = drop_pg {
        drop_database(&name).await;
    }
    enforced.rps
}

struct Fixture {
    owner: Actor,
    email: String,
    workspace_id: i64,
    tokens: Vec<String>,
}

async fn fresh_database(engine: Engine, work: &Path) -> (String, Option<String>) {
    match engine {
        Engine::Sqlite => (format!("sqlite://{}/bench.db", work.display()), None),
        Engine::Postgres => {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let name = format!("tollgate_bench_{}", std::process::id());
            let mut admin = sqlx::AnyConnection::connect(PG_ADMIN)
                .await
                .expect("PostgreSQL on 127.0.0.1:5432");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
            (
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
                Some(name),
            )
        }
    }
}

async fn drop_database(name: &str) {
    use sqlx::Connection;
    if let Ok(mut admin) = sqlx::AnyConnection::connect(PG_ADMIN).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}

/// An Enterprise organization (no allowance or token cap in the way) with many tokens.
async fn seed(db: &Db) -> Fixture {
    let now = now_ms();
    let email = "bench@example.com".to_string();
    let user_id = accounts::create_user(db, &email, PASSWORD, now)
        .await
        .unwrap();
    let org_id = organizations::create_organization(db, user_id, "Bench", now)
        .await
        .unwrap();
    let owner = organizations::actor(db, user_id, org_id).await.unwrap();
    billing::change_plan(db, &owner, "enterprise", None, now)
        .await
        .unwrap();
    let workspace_id = tollgate::services::workspaces::workspaces(db, &owner)
        .await
        .unwrap()
        .workspaces[0]
        .id;
    let started = Instant::now();
    let mut issued = Vec::with_capacity(TOKENS);
    for i in 0..TOKENS {
        let new = tokens::NewToken {
            label: format!("bench {i}"),
            scopes: vec![Scope::AnalyticsRead],
            binding: Binding::Workspace,
            workspace_id: Some(workspace_id),
            profile_id: None,
            expires_at: None,
        };
        let token = tokens::create(db, &owner, Environment::Live, new, None, now)
            .await
            .unwrap();
        issued.push(token.token);
    }
    println!(
        "seeded: {TOKENS} workspace tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Fixture {
        owner,
        email,
        workspace_id,
        tokens: issued,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped, also when the benchmark panics.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn start_server(url: &str, port: u16, fixture: &Fixture) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env("DATABASE_URL", url)
        .env("TOLLGATE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .env(
            "TOLLGATE_BENCH_BARE_TARGET",
            format!("{}:{}", fixture.owner.org_id, fixture.workspace_id),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("start the benchmark server");
    Process(child)
}

async fn wait_ready(port: u16) {
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client
            .get(format!("http://127.0.0.1:{port}/v1/tools"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up on port {port}");
}

fn yesterday() -> String {
    tollgate::model::day_string(now_ms().div_euclid(86_400_000) - 1)
}

/// A wrk script that sends `body` with the tokens in turn and counts failed calls (non-200 or
/// an MCP error result); `WRK_RATE` paces each connection to a share of a target rate (the
/// rate reached is a little lower: each connection also waits for its answers).
fn wrk_script(work: &Path, tokens: &[String], body: &str) -> PathBuf {
    let list: Vec<String> = tokens.iter().map(|t| format!("\"{t}\"")).collect();
    let script = format!(
        r#"local tokens = {{{list}}}
local body = [[{body}]]
local counter = 0
errors = 0 -- global: done() reads it from each thread
local threads = {{}}
local pause = 0
function setup(thread) table.insert(threads, thread) end
function init(args)
  counter = math.random(#tokens)
  local rate = tonumber(os.getenv("WRK_RATE") or "") or 0
  local connections = tonumber(os.getenv("WRK_CONNECTIONS") or "") or 1
  if rate > 0 then pause = 1000 * connections / rate end
end
-- Exponential pauses: the connections' calls arrive as a Poisson stream, not in bursts of all
-- connections at once (fixed pauses keep them in step).
function delay()
  if pause == 0 then return 0 end
  return math.floor(-pause * math.log(1 - math.random()))
end
function request()
  counter = counter % #tokens + 1
  return wrk.format("POST", nil, {{
    ["Authorization"] = "Bearer " .. tokens[counter],
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-11-25",
  }}, body)
end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"isError":true', 1, true) then errors = errors + 1 end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("errors") end
  io.write(string.format("ERRORS %d\n", failed))
  io.write(string.format("P50 %.0f\nP99 %.0f\n", latency:percentile(50), latency:percentile(99)))
end
"#,
        list = list.join(","),
    );
    let path = work.join(format!("calls-{}.lua", tokens.len()));
    std::fs::write(&path, script).unwrap();
    path
}

struct Run {
    rps: f64,
    requests: u64,
    p50: String,
    p99: String,
    errors: u64,
    cpu: Option<CpuPerCall>,
}

/// The CPU time a run's calls took, per call: the server's process, and the database's
/// processes (PostgreSQL's backends; SQLite runs inside the server).
struct CpuPerCall {
    server_us: f64,
    database_us: f64,
}

/// CPU seconds so far of the server process (all its threads) and of every PostgreSQL process,
/// from Linux's `/proc` (None elsewhere). Its tick is USER_HZ, 100 a second on Linux.
fn cpu_seconds(server: u32) -> Option<(f64, f64)> {
    let ticks = |stat: &str| -> Option<f64> {
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    };
    let server = ticks(&std::fs::read_to_string(format!("/proc/{server}/stat")).ok()?)?;
    let mut database = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat.contains("(postgres") {
            database += ticks(&stat).unwrap_or(0.0);
        }
    }
    Some((server, database))
}

/// One wrk run; `rate` paces the connections to about that many requests a second in all.
fn run_wrk(url: &str, script: &Path, connections: u32, seconds: u32, rate: Option<f64>) -> Run {
    let output = Command::new("wrk")
        .args([
            "-t",
            &WRK_THREADS.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "-s",
            &script.display().to_string(),
            url,
        ])
        .env("WRK_RATE", rate.map(|r| r.to_string()).unwrap_or_default())
        .env("WRK_CONNECTIONS", connections.to_string())
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let micros = |prefix: &str| -> String {
        field(prefix)
            .and_then(|v| v.parse::<f64>().ok())
            .map(|us| format!("{:.2} ms", us / 1000.0))
            .unwrap_or_else(|| "?".into())
    };
    Run {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("wrk printed no throughput:\n{text}")),
        // "  123456 requests in 10.00s, 45.67MB read"
        requests: text
            .lines()
            .find_map(|l| l.split_once(" requests in ")?.0.trim().parse().ok())
            .unwrap_or(0),
        cpu: None,
        p50: micros("P50"),
        p99: micros("P99"),
        errors: field("ERRORS").and_then(|v| v.parse().ok()).unwrap_or(0)
            + field("Non-2xx or 3xx responses:")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0),
    }
}

/// The run of median throughput (the rounds' figures as printed: one run's, not a mix).
fn median_run(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs.swap_remove(runs.len() / 2)
}

/// What `tokens::verify` costs per call: from the cache, and from the database.
async fn verification_cost(url: &str, fixture: &Fixture) {
    let cached = Db::connect(url).await.unwrap();
    cached.start_token_cache();
    for _ in 0..100 {
        if cached.token_cache.is_live() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let uncached = Db::connect(url).await.unwrap();
    let sample = &fixture.tokens[..1000];
    let time = |db: &Db, rounds: usize| {
        let db = db.clone();
        async move {
            let started = Instant::now();
            for _ in 0..rounds {
                for token in sample {
                    tokens::verify(&db, token, Environment::Live, now_ms())
                        .await
                        .unwrap();
                }
            }
            started.elapsed().as_secs_f64() * 1e6 / (rounds * sample.len()) as f64
        }
    };
    time(&cached, 1).await; // fills the cache
    let hit = time(&cached, 20).await;
    let miss = time(&uncached, 2).await;
    println!(
        "token verification: cache hit {hit:.2} µs/call, miss (database lookup) {miss:.1} µs/call"
    );
    cached.pool.close().await;
    uncached.pool.close().await;
}

/// Fills the organization's usage to each of `counts` events (rollups rebuilt from them, as
/// the metering writes them) and times the page's server render.
async fn usage_page(engine: Engine, db: &Db, url: &str, fixture: &Fixture, counts: &[i64]) {
    let port = free_port();
    let server = start_server(url, port, fixture);
    wait_ready(port).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let cookie = sign_in::sign_in_http(&client, &base, &fixture.email, PASSWORD).await;
    let mut have = 0;
    for &count in counts {
        let started = Instant::now();
        if count > have {
            add_events(engine, db, fixture, have, count).await;
            have = count;
        }
        let filled = started.elapsed().as_secs_f64();
        let mut times = Vec::new();
        for round in 0..25 {
            let started = Instant::now();
            let page = client
                .get(format!("http://127.0.0.1:{port}/usage"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert!(page.status().is_success(), "usage page: {}", page.status());
            let html = page.text().await.unwrap();
            assert!(html.contains("units"), "the usage page rendered");
            if round >= 5 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "usage page, {count} events: median {:.1} ms, max {:.1} ms (20 renders; events added in {filled:.0} s)",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    drop(server);
}

/// Events `from..to`, spread over the current period across 50 tokens and 5 tools.
async fn add_events(engine: Engine, db: &Db, fixture: &Fixture, from: i64, to: i64) {
    let (first_token,): (i64,) = sqlx::query_as("SELECT MIN(id) FROM tokens WHERE org_id = $1")
        .bind(fixture.owner.org_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let period_start = now_ms() - 29 * 86_400_000;
    let step = 29 * 86_400_000 / to;
    let columns = format!(
        "SELECT {org}, {ws}, {first_token} + i % 50, \
         CASE i % 5 WHEN 0 THEN 'get_performance_summary' WHEN 1 THEN 'top_campaigns' \
         WHEN 2 THEN 'compare_periods' WHEN 3 THEN 'find_anomalies' ELSE 'explain_campaign' END, \
         1 + i % 2, {period_start} + CAST(i AS BIGINT) * {step}",
        org = fixture.owner.org_id,
        ws = fixture.workspace_id,
    );
    let insert =
        "INSERT INTO usage_events (org_id, workspace_id, token_id, tool, units, created_at) ";
    let (fill, day) = match engine {
        Engine::Sqlite => (
            format!(
                "{insert} WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {to}) {columns} FROM n"
            ),
            "strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')",
        ),
        Engine::Postgres => (
            format!("{insert} {columns} FROM generate_series({from}, {} ) AS n(i)", to - 1),
            "to_char(to_timestamp(created_at / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        ),
    };
    sqlx::query(&fill).execute(&db.pool).await.unwrap();
    sqlx::query("DELETE FROM usage_daily WHERE org_id = $1")
        .bind(fixture.owner.org_id)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "INSERT INTO usage_daily (org_id, day, tool, token_id, calls, units) \
         SELECT org_id, {day}, tool, token_id, COUNT(*), SUM(units) FROM usage_events \
         WHERE org_id = $1 GROUP BY org_id, {day}, tool, token_id"
    ))
    .bind(fixture.owner.org_id)
    .execute(&db.pool)
    .await
    .unwrap();
}

/// Enforced calls at full speed for `seconds`, the server's RSS after every 10 s.
async fn soak(seconds: u32, options: &Options, work: &Path) {
    let (url, _) = fresh_database(Engine::Sqlite, work).await;
    let db = Db::connect(&url).await.expect("open the soak database");
    let fixture = seed(&db).await;
    let port = free_port();
    let server = start_server(&url, port, &fixture);
    wait_ready(port).await;
    let script = wrk_script(work, &fixture.tokens, &call_body(&fixture));
    let url = format!("http://127.0.0.1:{port}/mcp");
    let rss = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            })
            .unwrap_or(0)
    };
    let pid = server.0.id();
    println!(
        "soak: {seconds} s of enforced calls on SQLite; RSS at start {} MiB",
        rss(pid) / 1024
    );
    let mut samples = Vec::new();
    for round in 0..seconds.div_ceil(10) {
        let run = run_wrk(&url, &script, options.connections, 10, None);
        let kib = rss(pid);
        samples.push(kib);
        println!(
            "{:>5} s: {:>7.0} req/s, p99 {:>8}, RSS {} MiB",
            (round + 1) * 10,
            run.rps,
            run.p99,
            kib / 1024
        );
    }
    let first = samples.first().copied().unwrap_or(0);
    let max = samples.iter().copied().max().unwrap_or(0);
    let last = samples.last().copied().unwrap_or(0);
    println!(
        "RSS after the first 10 s {} MiB, at the end {} MiB, highest {} MiB",
        first / 1024,
        last / 1024,
        max / 1024
    );
}

fn call_body(fixture: &Fixture) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"get_performance_summary","arguments":{{"workspace_id":{},"start_date":"{day}","end_date":"{day}"}}}}}}"#,
        fixture.workspace_id,
        day = yesterday()
    )
}

fn bench_reference(options: &Options, work: &Path) -> Option<Run> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("end2end");
    let port = free_port();
    let server = Process(
        Command::new("node")
            .arg(root.join("bench/reference-server.mjs"))
            .env("PORT", port.to_string())
            .current_dir(&root)
            .stdout(Stdio::null())
            .spawn()
            .ok()?,
    );
    let url = format!("http://127.0.0.1:{port}/mcp");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
    let script = wrk_script(work, &["reference".to_string()], body);
    run_wrk(&url, &script, options.connections, 2, None);
    let run = run_wrk(&url, &script, options.connections, options.seconds, None);
    drop(server);
    Some(run)
}
