//! Builds the hal driver for each configured controller. Controllers naming the same serial
//! port share one RTU bus (the hal keeps one bus per open port), so their frames never
//! interleave on the wire.

use lintel_hal::modbus::{ModbusRtu, ModbusTcp, RtuBus};
use lintel_hal::mqtt::{BrokerSettings, EspRfid, LintelMqtt};
use lintel_hal::{Controller, Error, ErrorKind};

use super::DaemonError;
use crate::config::ControllerConfig;
use crate::dispatch::Driver;

pub(super) fn build(config: &ControllerConfig) -> Result<Driver, DaemonError> {
    let wrap = |source| DaemonError::Controller {
        name: config.name().to_string(),
        source,
    };
    let controller: Box<dyn Controller> = match config {
        ControllerConfig::ModbusTcp(c) => Box::new(
            ModbusTcp::new(c.address.clone(), c.unit, c.profile.clone(), c.timeout)
                .map_err(wrap)?,
        ),
        ControllerConfig::ModbusRtu(c) => {
            let serial = c.serial();
            let timeout = serial.transaction_timeout();
            let bus = RtuBus::shared(serial).map_err(wrap)?;
            Box::new(ModbusRtu::new(&bus, c.unit, c.profile.clone(), timeout).map_err(wrap)?)
        }
        ControllerConfig::EspRfid(c) => Box::new(
            EspRfid::connect(&broker(config).map_err(wrap)?, &c.name, c.settings())
                .map_err(wrap)?,
        ),
        ControllerConfig::LintelMqtt(c) => Box::new(
            LintelMqtt::connect(&broker(config).map_err(wrap)?, &c.name, c.settings())
                .map_err(wrap)?,
        ),
    };
    Ok(Driver {
        controller,
        verify_every: config.verify_every(),
    })
}

/// The broker an MQTT controller names, with its password loaded from the secret.
fn broker(config: &ControllerConfig) -> Result<BrokerSettings, Error> {
    let broker = config.broker().ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            "its [[broker]] was not resolved (the config was not validated)",
        )
    })?;
    let password = match &broker.password {
        Some(secret) => Some(
            secret
                .load()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Config,
                        format!("broker `{}` password: {e}", broker.name),
                    )
                })?
                .expose()
                .to_string(),
        ),
        None => None,
    };
    Ok(broker.settings(password))
}
