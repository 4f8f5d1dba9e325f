//! One module per area of the dashboard.

pub mod auth;
pub mod customers;
pub mod events;
pub mod integrations;
pub mod overview;
pub mod partners;
pub mod plans;
pub mod settings;
