//! Integration tests: the real server on a real port, a fresh database per test, every test
//! on both SQLite and PostgreSQL.

mod contract;
mod helpers;

mod accounts;
mod api;
mod attribution;
mod audit;
mod commissions;
mod event_history;
mod health;
mod migrations;
mod multi_instance;
mod openapi;
mod pages;
mod portal;
mod real_payloads;
mod retention;
mod security_accounts;
mod security_http;
mod security_webhooks;
mod webhooks;
