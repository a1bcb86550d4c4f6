//! `lintel sim …`: simulated controllers for tests, demos and integrators.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use lintel_hal::RegisterProfile;
use lintel_hal::mqtt::BrokerSettings;
use lintel_hal::sim::{
    EspRfidSimConfig, LineEmulation, LintelMqttSimConfig, PtyMaster, RtuSim, SimConfig,
};

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A controller implementing lintel's Modbus register profile (docs/registers.md): over TCP,
    /// or with --rtu over a pseudo-terminal (or --serial PORT) as units on one RS-485 bus.
    Modbus {
        /// Address to listen on (TCP).
        #[arg(long, default_value = "127.0.0.1:5020")]
        listen: String,
        /// Serve Modbus RTU on a new pseudo-terminal pair and print the path to open.
        #[arg(long)]
        rtu: bool,
        /// With --rtu: serve on this serial port instead of a pseudo-terminal.
        #[arg(long, requires = "rtu")]
        serial: Option<String>,
        /// Modbus unit id to answer as; repeat for several units on one RTU bus.
        #[arg(long = "unit", default_values_t = [1u8])]
        units: Vec<u8>,
        /// Number of credential slots (per unit).
        #[arg(long, default_value_t = 1000)]
        slots: u16,
        /// With --rtu: emulate this line rate (a pty has no UART, so replies would otherwise come
        /// at once), for honest throughput measurements.
        #[arg(long, requires = "rtu")]
        baud: Option<u32>,
        /// With --rtu: slave processing time added before each reply, in microseconds.
        #[arg(long, default_value_t = 0, requires = "rtu")]
        turnaround_us: u64,
    },
    /// An esp-rfid 2.x board on an MQTT broker (boot message, acks, getuserlist).
    #[command(name = "esp-rfid", alias = "esprfid")]
    EspRfid {
        /// Broker URL, mqtt://host[:port] or mqtts://host[:port].
        #[arg(long)]
        broker: String,
        /// The board's topic (commands on TOPIC/cmd, replies on TOPIC/send).
        #[arg(long, default_value = "/rfid")]
        topic: String,
        /// The IP the board reports (commands must carry it as doorip).
        #[arg(long, default_value = "10.20.0.31")]
        ip: String,
        #[arg(long, default_value = "esp-rfid-sim")]
        hostname: String,
        /// Publish a heartbeat every this many seconds.
        #[arg(long)]
        heartbeat: Option<u64>,
        /// Behave as firmware 1.3.x (which lintel refuses).
        #[arg(long)]
        legacy: bool,
    },
    /// A controller speaking lintel's native MQTT profile (docs/mqtt.md).
    #[command(name = "lintel-mqtt")]
    LintelMqtt {
        /// Broker URL, mqtt://host[:port] or mqtts://host[:port].
        #[arg(long)]
        broker: String,
        /// Base topic (requests on TOPIC/req).
        #[arg(long, default_value = "lintel/sim")]
        topic: String,
        #[arg(long, default_value_t = 1000)]
        slots: u16,
        /// Name in its state messages.
        #[arg(long, default_value = "lintel-sim")]
        device: String,
    },
}

pub async fn run(sim: SimCommand) -> anyhow::Result<ExitCode> {
    super::logging::init("info");
    let shutdown = super::shutdown_on_signal();
    match sim {
        SimCommand::Modbus {
            listen,
            rtu: false,
            units,
            slots,
            ..
        } => {
            let [unit] = units[..] else {
                bail!("Modbus TCP serves one unit; several units share a bus only with --rtu");
            };
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            let config = SimConfig {
                unit,
                slots,
                profile: RegisterProfile::default(),
            };
            println!(
                "simulated Modbus TCP controller on {addr} (unit {unit}, {slots} slots); Ctrl-C \
                 stops it"
            );
            lintel_hal::sim::serve(listener, config, shutdown).await?;
        }
        SimCommand::Modbus {
            rtu: true,
            serial,
            units,
            slots,
            baud,
            turnaround_us,
            ..
        } => {
            let configs: Vec<SimConfig> = units
                .iter()
                .map(|unit| SimConfig {
                    unit: *unit,
                    slots,
                    profile: RegisterProfile::default(),
                })
                .collect();
            let line = LineEmulation {
                baud,
                turnaround_us,
            };
            let listed = units
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let timing = match baud {
                Some(b) => format!("emulating {b} baud"),
                None => "no line-rate emulation".to_string(),
            };
            match serial {
                Some(port) => {
                    let stream = tokio_serial::SerialStream::open(&tokio_serial::new(
                        &port,
                        baud.unwrap_or(19_200),
                    ))
                    .with_context(|| format!("cannot open {port}"))?;
                    println!(
                        "simulated Modbus RTU units {listed} ({slots} slots each) on {port}; \
                         Ctrl-C stops it"
                    );
                    RtuSim::new(stream, configs, line)?.run(shutdown).await?;
                }
                None => {
                    let pty = PtyMaster::open()?;
                    let path = pty.path().display().to_string();
                    println!(
                        "simulated Modbus RTU units {listed} ({slots} slots each, {timing}) on \
                         {path}\nconfigure: port = \"{path}\"; Ctrl-C stops it"
                    );
                    RtuSim::new(pty, configs, line)?.run(shutdown).await?;
                }
            }
        }
        SimCommand::EspRfid {
            broker,
            topic,
            ip,
            hostname,
            heartbeat,
            legacy,
        } => {
            let config = EspRfidSimConfig {
                topic: topic.clone(),
                ip,
                hostname: hostname.clone(),
                legacy,
                heartbeat_s: heartbeat,
            };
            let settings = BrokerSettings::new(&broker);
            let board =
                lintel_hal::sim::spawn_esp_rfid(&settings, &format!("sim-{hostname}"), config)?;
            println!(
                "simulated esp-rfid board {hostname} on {broker}, topic {topic}; Ctrl-C stops it"
            );
            shutdown.cancelled().await;
            board.shutdown();
        }
        SimCommand::LintelMqtt {
            broker,
            topic,
            slots,
            device,
        } => {
            let config = LintelMqttSimConfig {
                topic: topic.clone(),
                slots,
                device: device.clone(),
            };
            let settings = BrokerSettings::new(&broker);
            let controller =
                lintel_hal::sim::spawn_lintel_mqtt(&settings, &format!("sim-{device}"), config)?;
            println!(
                "simulated lintel-mqtt controller {device} ({slots} slots) on {broker}, topic \
                 {topic}; Ctrl-C stops it"
            );
            shutdown.cancelled().await;
            controller.shutdown().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
