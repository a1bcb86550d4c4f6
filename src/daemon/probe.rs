//! One-off controller probes for `lintel doctor` when the daemon is not running (when it is,
//! its workers own the connections and doctor asks it instead).

use std::time::Duration;

use lintel_hal::DeviceInfo;

use crate::config::ControllerConfig;

/// Builds the controller's driver as the daemon would and probes it once.
pub async fn probe(config: &ControllerConfig, timeout: Duration) -> Result<DeviceInfo, String> {
    let mut driver = super::drivers::build(config).map_err(|e| e.to_string())?;
    match tokio::time::timeout(timeout, driver.controller.probe()).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}
