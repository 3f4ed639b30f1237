//! The `switchboard.v1` gRPC contract: messages, service stubs and the descriptor set served by
//! reflection, plus conversions between JSON values and `google.protobuf.Struct`; and
//! `switchboard.bus.v1`, the internal job and event envelopes on the bus (encoded and decoded
//! by switchboard-bus only).

#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used)]

pub mod v1 {
    tonic::include_proto!("switchboard.v1");
}

/// The envelopes on the bus (`proto/switchboard/bus/v1/bus.proto`): internal, not served by
/// reflection.
pub mod bus {
    pub mod v1 {
        tonic::include_proto!("switchboard.bus.v1");
    }
}

mod json;

pub use json::{json_to_struct, json_to_value, struct_to_json, value_to_json};

/// Encoded `FileDescriptorSet` of every switchboard proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/switchboard_descriptor.bin"));
pub use prost_types;
