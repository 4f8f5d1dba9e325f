//! One module per area of the dashboard.

pub mod api_reference;
pub mod audit;
pub mod auth;
pub mod commissions;
pub mod customers;
pub mod events;
pub mod integrations;
pub mod overview;
pub mod partner;
pub mod partners;
pub mod payouts;
pub mod plans;
pub mod portal;
pub mod settings;
