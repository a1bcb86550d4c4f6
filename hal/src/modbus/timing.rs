//! RTU line timing from the serial-line spec (`reference/modbus.md`): character time and the
//! 3.5-character silence that delimits frames. Shared by the bus (which must keep the silence)
//! and the simulator (which emulates the wire).

use std::time::Duration;

use tokio::time::Instant;

/// Bits per character the spec assumes: start, 8 data, parity, stop.
pub const SPEC_CHAR_BITS: u32 = 11;

/// Above this rate the spec fixes t3.5 instead of scaling it.
const FIXED_T35_ABOVE_BAUD: u32 = 19_200;
const FIXED_T35: Duration = Duration::from_micros(1_750);

/// Time `bytes` characters of `char_bits` bits occupy the wire at `baud`.
pub fn wire_time(bytes: usize, char_bits: u32, baud: u32) -> Duration {
    let bits = bytes as u64 * u64::from(char_bits);
    Duration::from_nanos(bits * 1_000_000_000 / u64::from(baud.max(1)))
}

/// The minimum silence between frames (t3.5) at `baud`: 3.5 eleven-bit characters, or 1.75 ms
/// above 19200 baud.
pub fn t35(baud: u32) -> Duration {
    if baud > FIXED_T35_ABOVE_BAUD {
        FIXED_T35
    } else {
        // 3.5 characters of 11 bits = 38.5 bit times.
        Duration::from_nanos(38_500_000_000 / u64::from(baud.max(1)))
    }
}

/// How much of a wait tokio's timer may overshoot: its wheel ticks in whole milliseconds and
/// rounds every deadline up to the next tick, so a 1.75 ms silence takes 2–3 ms.
const TIMER_TICK: Duration = Duration::from_millis(2);

/// Waits until `deadline` to within the kernel's timer slack (tens of microseconds) instead of
/// tokio's millisecond tick. At 115200 baud a transaction is ~30 ms on the wire, and rounding
/// each silence up cost about 3 % of the line (docs/BENCHMARKS.md). The last stretch of the
/// wait runs on a blocking thread, where `thread::sleep` has nanosecond resolution; the runtime's
/// own workers never block.
pub async fn sleep_until(deadline: Instant) {
    if let Some(coarse) = deadline.checked_sub(TIMER_TICK) {
        tokio::time::sleep_until(coarse).await;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return;
    }
    // A runtime shutting down cancels blocking tasks; the coarse timer still keeps the silence.
    if tokio::task::spawn_blocking(move || std::thread::sleep(left))
        .await
        .is_err()
    {
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    #[test]
    fn t35_matches_the_spec_table() {
        assert!((ms(t35(9600)) - 4.01).abs() < 0.01, "{:?}", t35(9600));
        assert!((ms(t35(19_200)) - 2.005).abs() < 0.01, "{:?}", t35(19_200));
        assert_eq!(t35(38_400), Duration::from_micros(1750));
        assert_eq!(t35(115_200), Duration::from_micros(1750));
    }

    #[test]
    fn wire_time_of_a_full_fc16() {
        // reference/modbus.md: a 249-byte FC16 spends 285 ms at 9600, 143 at 19200, 24 at 115200.
        let at = |baud| ms(wire_time(249, SPEC_CHAR_BITS, baud));
        assert!((at(9600) - 285.3).abs() < 0.5, "{}", at(9600));
        assert!((at(19_200) - 142.7).abs() < 0.5);
        assert!((at(115_200) - 23.8).abs() < 0.5);
        assert!(wire_time(10, 10, 9600) < wire_time(10, SPEC_CHAR_BITS, 9600));
    }

    #[tokio::test]
    async fn sleep_until_keeps_the_deadline_without_the_timer_tick() {
        // Whether the wait ends early is what could fail: a silence cut short corrupts the
        // next frame. How close to the deadline it ends is a benchmark's business.
        for wait_us in [0u64, 300, 1_750, 2_500] {
            let deadline = Instant::now() + Duration::from_micros(wait_us);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "{wait_us} µs ended early");
        }
    }
}
