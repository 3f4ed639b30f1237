//! Wall-clock time as the services store it: unix milliseconds and protobuf timestamps.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time the services decide expiry by (Connect Links, for one). [`Clock::system`] is the
/// wall clock and what every process runs with; a test builds an [`Clock::adjustable`] one,
/// hands it to the service, and [`advance`](Clock::advance)s it instead of sleeping until
/// something expires. Clones share the adjustment.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    ahead_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The wall clock, moved forward by every [`advance`](Clock::advance) on it or a clone.
    pub fn adjustable() -> Clock {
        Clock {
            ahead_ms: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Milliseconds since the unix epoch on this clock.
    pub fn now_ms(&self) -> i64 {
        let ahead = self
            .ahead_ms
            .as_ref()
            .map_or(0, |a| a.load(Ordering::Relaxed));
        now_ms().saturating_add(ahead)
    }

    /// Moves an adjustable clock forward (the system clock ignores it).
    pub fn advance(&self, by: Duration) {
        if let Some(ahead) = &self.ahead_ms {
            ahead.fetch_add(
                i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
                Ordering::Relaxed,
            );
        }
    }
}

/// Milliseconds since the unix epoch (0 before it, saturating far after it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now, as a protobuf timestamp.
pub fn now_timestamp() -> prost_types::Timestamp {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(now.subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf timestamp from unix milliseconds.
pub fn timestamp_of_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_become_timestamps() {
        let t = timestamp_of_ms(1_700_000_000_123);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
        let t = timestamp_of_ms(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_000_000));
        let now = now_timestamp();
        assert!((now.seconds * 1000 - now_ms()).abs() < 2000);
    }

    #[test]
    fn an_adjustable_clock_moves_for_all_its_clones_and_the_system_clock_does_not() {
        let clock = Clock::adjustable();
        let clone = clock.clone();
        clone.advance(Duration::from_secs(3600));
        assert!(clock.now_ms() - now_ms() >= 3_599_000);
        let system = Clock::system();
        system.advance(Duration::from_secs(3600));
        assert!((system.now_ms() - now_ms()).abs() < 1000);
    }
}
