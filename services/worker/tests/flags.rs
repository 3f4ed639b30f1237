//! `switchboard-worker` takes the flags every binary takes (`--config`, `--set`,
//! `--dump-config`), layered over the environment like `switchboard`'s.

#[test]
fn the_binary_honours_config_set_and_dump_config() {
    switchboard_platform::testing::check_service_flags(env!("CARGO_BIN_EXE_switchboard-worker"));
}
