// glibc's malloc was about 12 % of the server's CPU under load (perf: `_int_malloc`,
// `malloc_consolidate`); mimalloc keeps per-thread heaps.
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use tollgate::config::Config;
    use tollgate::state::AppState;
    use tollgate::storage::{session_store::DbSessionStore, Db};
    use tower_sessions::ExpiredDeletion;

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();

    let fail = |what: &str, err: &dyn std::fmt::Display| {
        eprintln!("tollgate: {what}: {err}");
        std::process::ExitCode::FAILURE
    };
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
        }
    });

    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("listening on {}", config.addr), &e),
    };
    println!(
        "Tollgate is running at {} ({} database, {} environment)",
        config.public_url,
        if db.engine == tollgate::storage::Engine::Sqlite {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        config.environment.as_str()
    );
    db.start_token_cache();
    let state = AppState {
        enforcer: tollgate::enforcement::Enforcer::start(db.clone(), config.environment),
        db,
        config: Arc::new(config),
        leptos_options,
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
    let courier = tollgate::services::write_back::Courier::new(tollgate::outbound::Outbound::new(
        state.config.outbound_allow.clone(),
        tollgate::services::write_back::DELIVERY_TIMEOUT,
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
    // hand an interrupted job to another instance.
    let jobs_db = state.db.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            if let Err(e) =
                tollgate::services::jobs::run_due(&jobs_db, tollgate::storage::now_ms()).await
            {
                tracing::warn!(error = %e, "running background jobs");
            }
        }
    });
    let app = tollgate::http::router(state.clone());
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    if let Err(e) = state.enforcer.last_used.flush(&state.db).await {
        tracing::warn!(error = %e, "recording token last use at shutdown");
    }
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail("serving", &e),
    }
}

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
