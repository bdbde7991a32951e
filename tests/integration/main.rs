//! Integration tests, one binary: each module runs its tests on real SQLite and PostgreSQL
//! databases of its own (see `support`).

mod abuse;
mod analytics;
mod authorization;
mod bad_input;
mod client_documents;
mod crash;
mod domain;
mod http;
mod hygiene;
mod instances;
mod jobs;
mod limits;
mod oauth;
mod operations;
mod overload;
mod profile_keys;
mod rest;
mod storage;
mod support;
mod surface;
mod tokens;
mod web_analytics;
mod write_back;
