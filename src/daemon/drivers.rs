//! Builds the hal driver for each configured controller.

use lintel_hal::Controller;
use lintel_hal::modbus::ModbusTcp;

use super::DaemonError;
use crate::config::ControllerConfig;

pub(super) fn build(config: &ControllerConfig) -> Result<Box<dyn Controller>, DaemonError> {
    let wrap = |source| DaemonError::Controller {
        name: config.name().to_string(),
        source,
    };
    Ok(match config {
        ControllerConfig::ModbusTcp(c) => Box::new(
            ModbusTcp::new(c.address.clone(), c.unit, c.profile.clone(), c.timeout)
                .map_err(wrap)?,
        ),
    })
}
