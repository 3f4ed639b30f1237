//! Wall-clock time as the services store it: unix milliseconds and protobuf timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

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
}
