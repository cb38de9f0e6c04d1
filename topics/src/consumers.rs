//! The consumer settings of aval's roles, in one place: the processors' consumers (the scorer
//! reads decision requests as a group member), the gateway's reader of its reply partition,
//! and the bare Kafka echo of `scripts/bench-decisions`, which measures the floor under a
//! decision with these very settings. A role sets only what is its own (group and instance
//! names, its partitions) on top.

use crate::connection::KafkaConnection;
use rdkafka::ClientConfig;
use std::time::Duration;

/// How long a member may go silent before the group gives its partitions to another
/// instance. A killed processor's partitions wait this long (plus a rebalance) when another
/// instance runs; librdkafka's default of 45 s left a restarted `aval all` idle for 44 s.
/// 6 s is the broker's smallest allowed (`group.min.session.timeout.ms`).
const SESSION_TIMEOUT_MS: &str = "6000";
const HEARTBEAT_INTERVAL_MS: &str = "1500";

/// What every processor's consumer starts from, a group member's or a follower's.
pub fn processor(kafka: &KafkaConnection, max_poll_interval: Duration) -> ClientConfig {
    let mut config = kafka.client_config();
    config
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_TIMEOUT_MS)
        .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS)
        .set(
            "max.poll.interval.ms",
            max_poll_interval.as_millis().to_string(),
        );
    config
}

/// Makes `config` a member of `group`. Offsets are committed in the background, but only
/// those the loop stored explicitly, i.e. of records whose effect is durable.
pub fn join_group(config: &mut ClientConfig, group: &str) {
    config
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("partition.assignment.strategy", "cooperative-sticky");
}

/// A reader of partitions assigned by hand that commits nothing (`group` only because
/// librdkafka wants one), for records someone waits for: a decision reply.
pub fn reply_reader(kafka: &KafkaConnection, group: &str) -> ClientConfig {
    let mut config = kafka.client_config();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        // A reply waits for no batch: with fetch.min.bytes=1 the broker answers a fetch
        // the moment a reply lands. The wait only bounds a fetch that finds nothing, so a
        // short one adds idle round trips (200/s per gateway at 5 ms), not speed.
        .set("fetch.wait.max.ms", "100")
        .set("fetch.min.bytes", "1");
    config
}
