//! Test support for the services' own tests, behind the `test-support` feature (a
//! dev-dependency only): [`check_service_flags`] runs a built service binary and checks that it
//! takes the flags every binary takes ([`crate::ServiceArgs`]). It lives here, not in the test
//! kit (`switchboard-testkit`), because the kit depends on the services: a service that
//! dev-depended on the kit would depend on itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// Checks that a service binary takes the flags every binary takes: `--config` (a file),
/// `--set` (over the file and the environment) and `--dump-config`, and that a malformed
/// `--set` stops it with an error naming the flag.
pub fn check_service_flags(binary: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("service.toml");
    std::fs::write(
        &file,
        "[nats]\nstream_prefix = \"FROMFILE\"\n[redis]\nkey_prefix = \"fromfile\"\n",
    )
    .expect("write the config file");
    let clean = || {
        let mut command = Command::new(binary);
        for (key, _) in std::env::vars() {
            if key.starts_with("SWITCHBOARD_") {
                command.env_remove(key);
            }
        }
        command
    };
    let out = clean()
        .arg("--config")
        .arg(&file)
        .args(["--set", "redis.key_prefix=fromflag", "--dump-config"])
        .env("SWITCHBOARD_NATS__SUBJECT_PREFIX", "fromenv")
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{binary}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "stream_prefix: FROMFILE",
        "key_prefix: fromflag",
        "subject_prefix: fromenv",
    ] {
        assert!(stdout.contains(expected), "{binary}: {expected}: {stdout}");
    }
    let out = clean()
        .args(["--set", "redis.key_prefix"])
        .output()
        .expect("run the binary");
    assert!(!out.status.success(), "{binary} accepted a malformed --set");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("expected KEY=VALUE"), "{binary}: {stderr}");
    let out = clean().arg("--help").output().expect("run the binary");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--set", "--dump-config"] {
        assert!(help.contains(flag), "{binary} --help: {help}");
    }
}
