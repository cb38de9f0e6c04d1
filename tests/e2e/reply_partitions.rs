//! Each gateway leases its own partition of the replies topic (a PostgreSQL advisory lock),
//! so the replies one gateway reads do not grow with the number of gateways.

use crate::common::{self, DEADLINE};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_lease_distinct_reply_partitions_until_they_leave() {
    let store = common::store().await;
    // A topic name of this test's own: the locks are keyed by it.
    let topic = format!("aval-e2e-leases-{}", uuid::Uuid::new_v4());
    let first = store
        .lease_reply_partition(&topic, 2, 0)
        .await
        .expect("lease");
    let second = store
        .lease_reply_partition(&topic, 2, 0)
        .await
        .expect("lease");
    assert_eq!((first.partition(), first.exclusive()), (0, true));
    assert_eq!((second.partition(), second.exclusive()), (1, true));
    // More gateways than partitions: the third shares, by its fallback.
    let third = store
        .lease_reply_partition(&topic, 2, 3)
        .await
        .expect("lease");
    assert_eq!((third.partition(), third.exclusive()), (1, false));

    // A gateway that leaves frees its partition for the next one.
    drop(first);
    let started = Instant::now();
    let next = loop {
        let lease = store
            .lease_reply_partition(&topic, 2, 1)
            .await
            .expect("lease");
        if lease.exclusive() {
            break lease;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "partition 0 was never released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(next.partition(), 0);
    drop((second, third, next));
}
