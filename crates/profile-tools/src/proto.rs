//! The pprof wire format: the `profile.proto` messages of the shared `pprof-proto` crate, the same
//! ones `http-pprof` writes, re-exported so readers of this crate (and its tests) name them as
//! `profile_tools::proto::*`. Only [`crate::profile`] should need these raw structs.

pub use pprof_proto::{
    decode, encode_gzip, DecodeError, Function, Label, Line, Location, Mapping, Profile, Sample,
    StringTable, ValueType,
};
