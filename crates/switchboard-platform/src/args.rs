//! The flags every binary takes (`switchboard`, `switchboard-gateway`, `switchboard-worker`,
//! `switchboard-triggers`): where the configuration comes from, lowest precedence first —
//! defaults → `--config` file → `SWITCHBOARD_*` environment → `--set` flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use switchboard_config::{Config, Sources};

/// Where the configuration comes from (defaults → file → SWITCHBOARD_* env → --set).
#[derive(Args, Clone, Debug, Default)]
pub struct ServiceArgs {
    /// A TOML or YAML config file.
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override one setting: `--set gateway.grpc_addr=127.0.0.1:6000` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long, global = true)]
    pub dump_config: bool,
}

impl ServiceArgs {
    /// The effective configuration, from the process environment and these flags.
    pub fn load(&self) -> anyhow::Result<Config> {
        self.load_from(Sources::from_process_env())
    }

    /// The effective configuration, from `sources` (whose file and overrides these flags
    /// replace or extend).
    pub fn load_from(&self, mut sources: Sources) -> anyhow::Result<Config> {
        if self.config.is_some() {
            sources.file = self.config.clone();
        }
        for pair in &self.set {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
            sources
                .overrides
                .push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Config::load(&sources).context("failed to load configuration")
    }

    /// Loads the configuration; with `--dump-config`, prints it (secrets redacted) and returns
    /// None: the binary exits.
    pub fn load_or_dump(&self) -> anyhow::Result<Option<Config>> {
        let config = self.load()?;
        if self.dump_config {
            print!("{}", config.dump());
            return Ok(None);
        }
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Bin {
        #[command(flatten)]
        args: ServiceArgs,
    }

    fn parse(flags: &[&str]) -> ServiceArgs {
        Bin::try_parse_from(std::iter::once("bin").chain(flags.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn set_flags_override_the_file_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("sbargs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[gateway]\ngrpc_addr = \"127.0.0.1:7001\"\nhttp_addr = \"127.0.0.1:7002\"\n",
        )
        .unwrap();
        let args = parse(&[
            "--config",
            file.to_str().unwrap(),
            "--set",
            "gateway.http_addr=127.0.0.1:7003",
        ]);
        let sources = Sources {
            env: [(
                "SWITCHBOARD_REDIS__KEY_PREFIX".to_owned(),
                "fromenv".to_owned(),
            )]
            .into(),
            ..Sources::default()
        };
        let config = args.load_from(sources).unwrap();
        assert_eq!(config.gateway.grpc_addr, "127.0.0.1:7001");
        assert_eq!(config.gateway.http_addr, "127.0.0.1:7003");
        assert_eq!(config.redis.key_prefix, "fromenv");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_malformed_set_flag_or_value_is_an_error_naming_it() {
        let err = parse(&["--set", "gateway.grpc_addr"])
            .load_from(Sources::default())
            .unwrap_err();
        assert!(format!("{err:#}").contains("expected KEY=VALUE"), "{err:#}");
        let err = parse(&["--set", "gateway.grpc_addr=nope"])
            .load_from(Sources::default())
            .unwrap_err();
        assert!(format!("{err:#}").contains("gateway.grpc_addr"), "{err:#}");
    }
}
