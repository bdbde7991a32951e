//! Integration tests, one binary: each module runs its tests on real SQLite and PostgreSQL
//! databases of its own (see `support`).

mod analytics;
mod crash;
mod domain;
mod http;
mod jobs;
mod limits;
mod support;
mod surface;
mod tokens;
mod write_back;
