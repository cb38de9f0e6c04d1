//! The client tools a company runs against aval, as the `aval` binary's `synth` and `upload`
//! subcommands: [`synth`] writes a realistic synthetic dataset, [`upload`] sends a folder of
//! exports to the gateway's dataset API, resumably, and waits for its verdict. They take their
//! settings as plain values; the binary reads them (flags, environment) in `src/config.rs`.

pub mod synth;
pub mod upload;
