//! The ingest processor killed with SIGKILL in the middle of a dataset, then restarted: the
//! final counts are exact — nothing lost, nothing stored twice.

use crate::common::{self, DEADLINE, Gateway};
use crate::ingest_support::{
    Dataset, complete, create_dataset, stored_rows, upload_all, wait_settled,
};
use crate::processes::Process;
use std::time::{Duration, Instant};

#[tokio::test]
async fn sigkill_mid_dataset_then_restart_gives_exact_counts() {
    let catalogue = common::own_catalogue("kill").await;
    let gateway = Gateway::start_on(catalogue.clone()).await;
    let (_, token) = gateway.register().await;
    let dataset = create_dataset(&gateway, &token).await;
    let data = Dataset::new(1_500, 20);
    let total_orders = i64::try_from(data.orders.len()).expect("fits");
    // Everything is on Kafka before the processor starts, so it is busy when killed.
    upload_all(&gateway, &token, &dataset, &data, 500).await;
    let (status, _) = complete(&gateway, &token, &dataset, &data.counts()).await;
    assert_eq!(status, 202);

    let start_ingest = || Process::start("ingest", &catalogue, "ingest-crash", &[], None);
    let mut first = start_ingest();
    let started = Instant::now();
    let at_kill = loop {
        let rows = stored_rows(&dataset).await;
        if rows[1] > 0 {
            break rows;
        }
        assert!(started.elapsed() < DEADLINE, "the processor stored nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    first.kill("-KILL");
    assert!(
        at_kill[1] < total_orders,
        "the processor finished before the kill ({at_kill:?}); the test proves nothing"
    );
    let after_kill = stored_rows(&dataset).await;
    assert!(
        after_kill[1] < total_orders,
        "stored everything while dying: {after_kill:?}"
    );

    let mut second = start_ingest();
    let restarted = Instant::now();
    while stored_rows(&dataset).await == after_kill {
        assert!(
            restarted.elapsed() < DEADLINE,
            "nothing stored after the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resumed = restarted.elapsed();
    let settled = wait_settled(&gateway, &token, &dataset, Duration::from_secs(120)).await;
    second.kill("-TERM");
    eprintln!(
        "SIGKILL test: {} of {total_orders} orders stored when killed; storing again {:.1} s after the restart; final status {}",
        after_kill[1],
        resumed.as_secs_f64(),
        settled["status"]
    );
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(
        stored_rows(&dataset).await,
        [1_500, total_orders, 1_500, 1_500]
    );
    assert_eq!(settled["counts"]["stored"], data.counts());

    common::delete_topics(&catalogue).await;
}
