//! The quire server: configuration, wiring of adapters into the core, the command line, and
//! serving with graceful shutdown. [`Application::build`] gives tests the real server on
//! any port, `main` stays a few lines.

pub mod adapters;
pub mod app;
pub mod cli;
pub mod config;
pub mod deliveries;
pub mod metrics;
pub mod purger;
pub mod relay;
pub mod scheduler;
pub mod seed;
pub mod telemetry;
pub mod tls;
pub mod transfer;
pub mod workers;

pub use app::Application;
pub use config::Config;
