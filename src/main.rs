// glibc's malloc was about 12 % of the server's CPU under load (perf: `_int_malloc`,
// `malloc_consolidate`); mimalloc keeps per-thread heaps.
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::future::IntoFuture;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use tollgate::config::{Config, LogFormat};
    use tollgate::state::AppState;
    use tollgate::storage::{session_store::DbSessionStore, Db};
    use tower_sessions::ExpiredDeletion;

    let fail = |what: &str, err: &dyn std::fmt::Display| {
        eprintln!("tollgate: {what}: {err}");
        std::process::ExitCode::FAILURE
    };
    let log_format = match LogFormat::from_env() {
        Ok(format) => format,
        Err(e) => return fail("configuration", &e),
    };
    let logs = tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "info,sqlx=warn".into()),
    );
    match log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let leptos_conf = match leptos::config::get_configuration(None) {
        Ok(conf) => conf,
        Err(e) => return fail("reading the Leptos configuration", &e),
    };
    let config = match Config::from_env(leptos_conf.leptos_options.site_addr) {
        Ok(config) => config,
        Err(e) => return fail("configuration", &e),
    };
    let db = match Db::connect(&config.database_url).await {
        Ok(db) => db,
        Err(e) => return fail("opening the database", &e),
    };
    let mut leptos_options = leptos_conf.leptos_options;
    leptos_options.site_addr = config.addr;

    let sessions = DbSessionStore::new(db.clone());
    let sweep_db = db.clone();
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            if let Err(e) = sessions.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions");
            }
            if let Err(e) =
                tollgate::enforcement::limits::sweep(&sweep_db, tollgate::storage::now_ms()).await
            {
                tracing::warn!(error = %e, "deleting ended rate-limit windows");
            }
            if let Err(e) =
                tollgate::services::oauth::sweep(&sweep_db, tollgate::storage::now_ms()).await
            {
                tracing::warn!(error = %e, "deleting spent OAuth requests and clients");
            }
        }
    });

    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("listening on {}", config.addr), &e),
    };
    tracing::info!(
        url = %config.public_url,
        database = if db.engine == tollgate::storage::Engine::Sqlite { "SQLite" } else { "PostgreSQL" },
        environment = config.environment.as_str(),
        "Tollgate is running"
    );
    db.start_token_cache();
    let state = AppState {
        enforcer: tollgate::enforcement::Enforcer::start(db.clone(), &config),
        client_documents: config.client_documents(),
        db,
        config: Arc::new(config),
        leptos_options,
        lifecycle: Default::default(),
    };
    let flusher = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            every.tick().await;
            if let Err(e) = flusher.enforcer.last_used.flush(&flusher.db).await {
                tracing::warn!(error = %e, "recording token last use");
            }
        }
    });
    // The write-back outbox is delivered by every instance; leases keep them off each other's
    // rows. Passes overlap: each takes the slots free then, so a slow endpoint holds only its own.
    let outbox_db = state.db.clone();
    let courier =
        tollgate::services::write_back::Courier::new(tollgate::outbound::Outbound::trusting(
            state.config.outbound_allow.clone(),
            tollgate::services::write_back::DELIVERY_TIMEOUT,
            &state.config.outbound_roots,
        ));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            let (db, courier) = (outbox_db.clone(), courier.clone());
            tokio::spawn(async move {
                let now = tollgate::storage::now_ms();
                if let Err(e) =
                    tollgate::services::write_back::deliver_due(&db, &courier, now).await
                {
                    tracing::warn!(error = %e, "delivering write-back events");
                }
            });
        }
    });
    // Background jobs (reports, exports) run on every instance; leases keep them apart and
    // hand an interrupted job to another instance. A stopping server finishes the job it is
    // running and hands the rest on at once.
    let (jobs_db, lifecycle) = (state.db.clone(), state.lifecycle.clone());
    let worker = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            if lifecycle.is_draining() {
                break;
            }
            let now = tollgate::storage::now_ms();
            let keep_going = || !lifecycle.is_draining();
            if let Err(e) = tollgate::services::jobs::run_due(&jobs_db, now, keep_going).await {
                tracing::warn!(error = %e, "running background jobs");
            }
        }
    });
    if state.config.metrics_enabled() {
        // Histograms keep their samples until upkeep folds them in; scrapes do it too.
        let metrics = tollgate::metrics::recorder();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                metrics.run_upkeep();
            }
        });
    }
    if let Some(addr) = state.config.metrics_addr {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => return fail(&format!("listening for metrics on {addr}"), &e),
        };
        let metrics = tollgate::http::metrics::router().with_state(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, metrics).await {
                tracing::error!(error = %e, "serving metrics");
            }
        });
        tracing::info!(%addr, "serving metrics");
    }
    let app = tollgate::http::router(state.clone());
    // On SIGTERM or Ctrl-C: /readyz answers 503, nothing new is accepted, the calls in flight
    // finish (for at most DRAIN_TIMEOUT), then what is metered or used is written.
    let signalled = Arc::new(tokio::sync::Notify::new());
    let stopping = {
        let (lifecycle, signalled) = (state.lifecycle.clone(), signalled.clone());
        async move {
            shutdown_signal().await;
            lifecycle.begin_draining();
            signalled.notify_one();
            tracing::info!("stopping: finishing the calls in flight");
        }
    };
    let serving = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopping)
    .into_future();
    // The job worker stops with the server: the job it runs finishes in the same window.
    let drained = async {
        let served = serving.await;
        if let Err(e) = worker.await {
            tracing::warn!(error = %e, "the job worker ended abnormally");
        }
        served
    };
    let served = tokio::select! {
        served = drained => served,
        () = async {
            signalled.notified().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            tracing::warn!(
                "calls or a job still running after {} s: stopping without them (a job is taken \
                 over when its lease ends)",
                DRAIN_TIMEOUT.as_secs()
            );
            Ok(())
        }
    };
    if let Err(e) = state.enforcer.writer.flush().await {
        tracing::warn!(error = %e, "writing the last admissions and refusals at shutdown");
    }
    if let Err(e) = state.enforcer.last_used.flush(&state.db).await {
        tracing::warn!(error = %e, "recording token last use at shutdown");
    }
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail("serving", &e),
    }
}

/// How long a stopping server waits for the calls in flight (a request times out at 30 s;
/// orchestrators commonly kill at 30 s after SIGTERM).
#[cfg(feature = "ssr")]
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(25);

#[cfg(feature = "ssr")]
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser side starts in lib.rs (`hydrate`).
}
