pub mod clients;
pub mod demo;
pub mod health;
pub mod items;
pub mod oauth;
pub mod roles;
pub mod users;
pub mod wellknown;
