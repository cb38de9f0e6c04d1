//! The upload run: read the folder, create (or resume) the dataset, send every pending batch
//! kind by kind with N requests in flight, record each answer in the state file, report the
//! refused items with their `file:line`, send the completion marker, and wait for the verdict.

use super::Kind;
use super::client::{BatchOutcome, CallError, Client, DatasetStatus, RetryPolicy};
use super::source::{self, Source};
use super::state::{Completion, Counts, UploadState};
use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Refused-item errors shown per kind.
const ERRORS_SHOWN: usize = 10;

/// What to upload, where, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder of exports; the state file is kept in it.
    pub dir: PathBuf,
    /// The gateway's base URL (`http://` only).
    pub gateway: String,
    /// The company's token.
    pub token: String,
    /// Batches in flight at once.
    pub concurrency: usize,
    /// Ignore an earlier upload's state and upload into a new dataset.
    pub restart: bool,
    /// Wait for the dataset's verdict after the completion marker.
    pub wait: bool,
    pub wait_timeout: Duration,
    /// The pause between two reads of the dataset's status while waiting.
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    /// Draw progress bars on stderr (indicatif hides them when stderr is not a terminal).
    pub progress: bool,
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub(crate) dataset_id: String,
    pub(crate) accepted: Counts,
    pub(crate) refused_batches: usize,
    /// The last status read, when waited for.
    pub(crate) status: Option<DatasetStatus>,
    /// Still receiving/validating when the wait ran out.
    pub(crate) timed_out: bool,
}

/// Exit codes beyond 0 (success) and 1 (error).
pub(crate) const EXIT_REFUSED_OR_REJECTED: u8 = 2;
pub(crate) const EXIT_WAIT_TIMED_OUT: u8 = 3;

impl Report {
    pub fn exit_code(&self) -> ExitCode {
        if self.refused_batches > 0 || self.status.as_ref().is_some_and(DatasetStatus::is_failure) {
            ExitCode::from(EXIT_REFUSED_OR_REJECTED)
        } else if self.timed_out {
            ExitCode::from(EXIT_WAIT_TIMED_OUT)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn progress_bar(options: &Options, kind: Kind, total: usize) -> ProgressBar {
    let target = if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    let style = ProgressStyle::with_template(
        "{prefix:>14} [{bar:30}] {human_pos}/{human_len} items  {rate}  eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} items/s", state.per_sec());
        },
    )
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(kind.as_str());
    bar
}

/// The totals of one kind's upload, for its summary line.
#[derive(Debug, Default)]
struct KindTotals {
    sent_items: usize,
    sent_batches: usize,
    refused_batches: usize,
    retried_batches: usize,
    undelivered: Vec<(usize, String)>,
}

async fn upload_kind(
    client: &Client,
    state: &mut UploadState,
    source: &Source,
    options: &Options,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<KindTotals> {
    let kind = source.kind;
    state.begin(source)?;
    let pending = state.pending(kind, source.batch_count());
    let done: usize = (0..source.batch_count())
        .filter(|b| !pending.contains(b))
        .map(|b| source.batch_len(b))
        .sum();
    let bar = progress_bar(options, kind, source.items.len());
    bar.set_position(done as u64);
    bar.reset_eta();
    let started = Instant::now();
    let dataset_id = state.dataset_id.clone();
    let mut totals = KindTotals::default();
    // Set when a batch could not be delivered: the gateway is down or failing, so the batches
    // in flight finish but no new one starts (each would wait out every retry in turn).
    let stop = AtomicBool::new(false);
    let mut deliveries = futures::stream::iter(pending)
        .map(|batch| {
            let items = source.batch_len(batch);
            let (dataset_id, stop) = (&dataset_id, &stop);
            async move {
                if stop.load(Ordering::Relaxed) {
                    return (batch, items, None);
                }
                let body = source.body(batch);
                let result = client
                    .send_batch(dataset_id, kind, batch, items, &body)
                    .await;
                (batch, items, Some(result))
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    while let Some((batch, items, result)) = deliveries.next().await {
        let Some(result) = result else {
            continue;
        };
        let entry = state.begin(source)?;
        match result {
            Ok(delivery) => {
                totals.sent_batches += 1;
                totals.sent_items += items;
                if delivery.attempts > 1 {
                    totals.retried_batches += 1;
                }
                match delivery.outcome {
                    BatchOutcome::Accepted => {
                        entry.acknowledged.insert(batch);
                    }
                    BatchOutcome::Refused(refusal) => {
                        totals.refused_batches += 1;
                        entry.refused.retain(|r| r.batch != batch);
                        entry.refused.push(refusal);
                        entry.refused.sort_by_key(|r| r.batch);
                    }
                }
                bar.inc(items as u64);
                state.save(&options.dir)?;
            }
            Err(CallError::GaveUp { attempts, last }) => {
                stop.store(true, Ordering::Relaxed);
                totals.undelivered.push((
                    batch,
                    format!("gave up after {attempts} attempts (last: {last})"),
                ));
            }
            Err(abort @ CallError::Abort { .. }) => {
                bar.abandon();
                drop(deliveries);
                state.save(&options.dir)?;
                return Err(anyhow::Error::new(abort));
            }
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 {
        totals.sent_items as f64 / seconds
    } else {
        0.0
    };
    let mut line = format!(
        "{:<14} {} items from {}: {} sent in {} batches ({} refused",
        kind.as_str(),
        source.items.len(),
        source.file_name(),
        totals.sent_items,
        totals.sent_batches,
        totals.refused_batches,
    );
    if totals.retried_batches > 0 {
        line.push_str(&format!(", {} retried", totals.retried_batches));
    }
    if done > 0 {
        line.push_str(&format!(", {done} done earlier"));
    }
    line.push_str(&format!(") in {seconds:.1} s, {rate:.0} items/s"));
    writeln!(out, "{line}")?;
    Ok(totals)
}

/// The refused batches of every kind: counts, then the first errors with their `file:line`.
fn refusal_summary(state: &UploadState, sources: &[Source]) -> Vec<String> {
    let mut lines = Vec::new();
    for source in sources {
        let Some(kind_state) = state.kind(source.kind) else {
            continue;
        };
        if kind_state.refused.is_empty() {
            continue;
        }
        let items: usize = kind_state.refused.iter().map(|r| r.items).sum();
        let invalid: usize = kind_state.refused.iter().map(|r| r.invalid_items).sum();
        lines.push(format!(
            "{}: {} batch(es) refused, {items} items not stored ({invalid} invalid):",
            source.kind.as_str(),
            kind_state.refused.len()
        ));
        let file = source.file_name();
        let mut shown = 0;
        'refusals: for refusal in &kind_state.refused {
            if refusal.errors.is_empty() {
                let span = source
                    .line_span(refusal.batch)
                    .map_or_else(String::new, |(a, b)| format!(":{a}-{b}"));
                lines.push(format!(
                    "  {file}{span}: batch {} refused (HTTP {}): {}",
                    refusal.batch, refusal.status, refusal.detail
                ));
                shown += 1;
            }
            for error in &refusal.errors {
                if shown >= ERRORS_SHOWN {
                    break 'refusals;
                }
                let place = match error
                    .item_index()
                    .and_then(|i| source.line_of(refusal.batch, i))
                {
                    Some(line) => format!("{file}:{line}"),
                    None => format!("{file} (batch {})", refusal.batch),
                };
                lines.push(format!("  {place}: {}: {}", error.field, error.reason));
                shown += 1;
            }
        }
        let total_errors: usize = kind_state
            .refused
            .iter()
            .map(|r| r.errors.len().max(1))
            .sum();
        if total_errors > shown {
            lines.push(format!(
                "  ... and {} more (all of them in {})",
                total_errors - shown,
                super::state::STATE_FILE
            ));
        }
    }
    lines
}

fn counts_text(counts: &Counts) -> String {
    Kind::UPLOAD_ORDER
        .iter()
        .map(|&k| format!("{} {}", k.as_str(), counts.get(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn wait_for_verdict(
    client: &Client,
    dataset_id: &str,
    options: &Options,
) -> anyhow::Result<(Option<DatasetStatus>, bool)> {
    let target = if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let spinner = ProgressBar::with_draw_target(None, target);
    spinner.set_style(
        ProgressStyle::with_template("{spinner} dataset {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let deadline = Instant::now() + options.wait_timeout;
    let mut last: Option<DatasetStatus> = None;
    loop {
        match client.status(dataset_id).await {
            Ok(status) => {
                spinner.set_message(status.status.clone());
                spinner.tick();
                let pending = status.is_pending();
                last = Some(status);
                if !pending {
                    spinner.finish_and_clear();
                    return Ok((last, false));
                }
            }
            Err(CallError::GaveUp { last: reason, .. }) => {
                spinner.set_message(format!("unreachable ({reason})"));
            }
            Err(abort @ CallError::Abort { .. }) => {
                spinner.abandon();
                return Err(abort.into());
            }
        }
        if Instant::now() >= deadline {
            spinner.finish_and_clear();
            return Ok((last, true));
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

fn print_status(
    out: &mut (dyn Write + Send),
    dataset_id: &str,
    status: &DatasetStatus,
) -> std::io::Result<()> {
    writeln!(out, "dataset {dataset_id}: {}", status.status)?;
    if let Some(counts) = &status.counts {
        if let Some(received) = &counts.received {
            writeln!(out, "  received: {}", counts_text(received))?;
        }
        if let Some(stored) = &counts.stored {
            writeln!(out, "  stored:   {}", counts_text(stored))?;
        }
    }
    if let Some(announced) = &status.announced {
        writeln!(out, "  announced: {}", counts_text(announced))?;
    }
    if let Some(batches @ 1..) = status.rejected_batches {
        writeln!(out, "  batches refused by the pipeline: {batches}")?;
    }
    for reason in &status.rejection_reasons {
        writeln!(out, "  rejected: {reason}")?;
    }
    Ok(())
}

/// Uploads `options.dir`, telling `out` how it goes. An error leaves the state file consistent:
/// running again resumes.
pub async fn run(options: &Options, out: &mut (dyn Write + Send)) -> anyhow::Result<Report> {
    let sources = source::read_dir(&options.dir)?;
    let client = Client::new(&options.gateway, &options.token, options.retry)?;
    let gateway = client.base().to_owned();

    let earlier = if options.restart {
        None
    } else {
        UploadState::load(&options.dir)?
    };
    let mut state = match earlier {
        Some(mut state) if state.gateway == gateway => {
            state.check_sources(&sources)?;
            writeln!(
                out,
                "resuming the upload into dataset {} (state in {})",
                state.dataset_id,
                super::state::path(&options.dir).display()
            )?;
            state
        }
        other => {
            if let Some(other) = other {
                writeln!(
                    out,
                    "the state file is for gateway {}, not {gateway}: starting a new upload",
                    other.gateway
                )?;
            }
            let dataset_id = client
                .create_dataset()
                .await
                .with_context(|| format!("cannot create a dataset on {gateway}"))?;
            let state = UploadState::new(&gateway, &dataset_id);
            state.save(&options.dir)?;
            writeln!(out, "uploading into new dataset {dataset_id}")?;
            state
        }
    };
    let dataset_id = state.dataset_id.clone();

    if state.completed.is_none() {
        for source in &sources {
            let totals = upload_kind(&client, &mut state, source, options, out).await?;
            let mut undelivered = Vec::new();
            for (batch, reason) in totals.undelivered {
                undelivered.push(format!(
                    "  {} batch {batch} ({}): {reason}",
                    source.kind.as_str(),
                    source
                        .line_span(batch)
                        .map_or_else(String::new, |(a, b)| format!(
                            "{}:{a}-{b}",
                            source.file_name()
                        ))
                ));
            }
            if !undelivered.is_empty() {
                anyhow::bail!(
                    "the upload stopped: {} batch(es) could not be delivered; nothing is lost: re-run the same command to resume\n{}",
                    undelivered.len(),
                    undelivered.join("\n")
                );
            }
        }
    } else {
        writeln!(
            out,
            "the upload into dataset {dataset_id} was already completed: reading its status"
        )?;
    }

    for line in refusal_summary(&state, &sources) {
        writeln!(out, "{line}")?;
    }
    let refused_batches = state.refusals().count();

    let accepted = match &state.completed {
        Some(completion) => completion.counts,
        None => {
            let counts = state.accepted_counts(&sources);
            client.complete(&dataset_id, &counts).await?;
            state.completed = Some(Completion { counts });
            state.save(&options.dir)?;
            writeln!(out, "completion sent: {}", counts_text(&counts))?;
            counts
        }
    };

    let (status, timed_out) = if options.wait {
        wait_for_verdict(&client, &dataset_id, options).await?
    } else {
        (None, false)
    };
    match &status {
        Some(status) => print_status(out, &dataset_id, status)?,
        None if options.wait => writeln!(out, "dataset {dataset_id}: status unknown")?,
        None => {}
    }
    if timed_out {
        writeln!(
            out,
            "still not validated after {} s: re-run the same command to keep waiting",
            options.wait_timeout.as_secs()
        )?;
    }
    Ok(Report {
        dataset_id,
        accepted,
        refused_batches,
        status,
        timed_out,
    })
}
