//! The client tools' subcommands: settings in, the tool run, its exit code out.

use crate::config;
use std::process::ExitCode;

/// `aval synth`.
pub fn synth(settings: &config::Synth) -> anyhow::Result<ExitCode> {
    aval_tools::synth::run(&settings.options(), &mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// `aval upload`: 0 all stored and the dataset accepted; 2 some batches refused or the dataset
/// rejected; 3 the wait for the verdict timed out (an error is 1, as for every subcommand).
pub async fn upload(settings: &config::Upload) -> anyhow::Result<ExitCode> {
    let options = settings.options()?;
    let report = aval_tools::upload::run(&options, &mut std::io::stdout()).await?;
    Ok(report.exit_code())
}
