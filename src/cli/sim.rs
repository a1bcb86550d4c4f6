//! `lintel sim …`: simulated controllers for tests, demos and integrators.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A Modbus TCP controller implementing lintel's register profile.
    Modbus {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:5020")]
        listen: String,
        /// Modbus unit id to answer as.
        #[arg(long, default_value_t = 1)]
        unit: u8,
        /// Number of credential slots.
        #[arg(long, default_value_t = 1000)]
        slots: u16,
    },
}

pub async fn run(sim: SimCommand) -> anyhow::Result<ExitCode> {
    super::logging::init("info");
    let SimCommand::Modbus {
        listen,
        unit,
        slots,
    } = sim;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let config = lintel_hal::sim::SimConfig {
        unit,
        slots,
        profile: lintel_hal::RegisterProfile::default(),
    };
    println!("simulated Modbus controller on {addr} (unit {unit}, {slots} slots); Ctrl-C stops it");
    lintel_hal::sim::serve(listener, config, super::shutdown_on_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
