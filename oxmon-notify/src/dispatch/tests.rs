use std::time::Duration;

use oxmon_core::config::{Recurrence, SilenceWindow, TimeOfDay};
use oxmon_core::notify_history::MemoryHistory;
use oxmon_core::testing::{T0, sample_event};
use oxmon_core::{ManualClock, SendError};

use super::*;
use crate::StubChannel;

struct Setup {
    notifier: Notifier,
    clock: ManualClock,
    history: Arc<MemoryHistory>,
}

fn setup(routes: Vec<Route>, options: NotifierOptions) -> Setup {
    let clock = ManualClock::new(T0);
    let history = Arc::new(MemoryHistory::default());
    let notifier = Notifier::new(routes, options, Arc::new(clock.clone()), history.clone());
    Setup {
        notifier,
        clock,
        history,
    }
}

fn no_jitter(window_secs: u64) -> NotifierOptions {
    NotifierOptions {
        aggregation_window: Duration::from_secs(window_secs),
        retry: RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        },
        ..NotifierOptions::default()
    }
}

fn event(id: &str, agent: &str, severity: Severity) -> AlertEvent {
    sample_event(id, agent, severity, T0)
}

/// Lets spawned tasks run (time is paused, so this costs nothing).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn statuses(h: &MemoryHistory) -> Vec<DeliveryStatus> {
    h.all().into_iter().map(|r| r.status).collect()
}

#[tokio::test(start_paused = true)]
async fn routes_by_min_severity_and_send_resolved() {
    let all = StubChannel::new("all");
    let critical = StubChannel::new("critical-only");
    let mut crit_route = Route::new(Arc::new(critical.clone()));
    crit_route.min_severity = Severity::Critical;
    crit_route.send_resolved = false;
    let s = setup(
        vec![Route::new(Arc::new(all.clone())), crit_route],
        no_jitter(0),
    );
    s.notifier
        .notify(event("w", "web-1", Severity::Warning))
        .await;
    s.notifier
        .notify(event("c", "web-1", Severity::Critical))
        .await;
    let mut resolved = event("r", "web-1", Severity::Critical);
    resolved.status = AlertStatus::Resolved;
    s.notifier.notify(resolved).await;
    settle().await;
    let ids = |c: &StubChannel| {
        let mut v: Vec<String> = c
            .sent()
            .iter()
            .flat_map(|n| n.events.iter().map(|e| e.id.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&all), ["c", "r", "w"]);
    assert_eq!(ids(&critical), ["c"]);
}

#[tokio::test(start_paused = true)]
async fn events_of_one_rule_are_merged_and_flushed_by_the_timer() {
    let stub = StubChannel::new("s");
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], no_jitter(60));
    s.notifier
        .notify(event("1", "web-1", Severity::Warning))
        .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    s.notifier
        .notify(event("2", "web-2", Severity::Critical))
        .await;
    s.notifier
        .notify(event("3", "web-2", Severity::Warning))
        .await;
    let mut other = event("4", "db-1", Severity::Info);
    other.rule = "another-rule".into();
    s.notifier.notify(other).await;
    tokio::time::sleep(Duration::from_secs(49)).await;
    assert!(stub.sent().is_empty(), "nothing before the window ends");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = stub.sent();
    assert_eq!(sent.len(), 1, "the first group's window has ended");
    assert_eq!(sent[0].events.len(), 3);
    assert_eq!(sent[0].severity(), Severity::Critical);
    let summary = crate::render::summary(&sent[0]).unwrap();
    assert!(
        summary.starts_with("3 events") && summary.contains("web-1, web-2"),
        "{summary}"
    );
    // The single event of the other rule is still delivered when its own window ends.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let sent = stub.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].events.len(), 1);
    assert_eq!(sent[1].events[0].id, "4");
}

#[tokio::test(start_paused = true)]
async fn grouped_by_agent_what_fires_together_on_a_host_is_one_message() {
    let stub = StubChannel::new("s");
    let options = NotifierOptions {
        group_by: GroupBy::Agent,
        ..no_jitter(60)
    };
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], options);
    for (id, agent, rule) in [
        ("1", "web-1", "disk-full"),
        ("2", "web-1", "high-cpu"),
        ("3", "web-1", "memory-leak"),
        ("4", "db-1", "high-cpu"),
    ] {
        let mut e = event(id, agent, Severity::Warning);
        e.rule = rule.into();
        s.notifier.notify(e).await;
    }
    tokio::time::sleep(Duration::from_secs(61)).await;
    let mut sent = stub.sent();
    sent.sort_by_key(|n| n.events.len());
    assert_eq!(
        sent.iter().map(|n| n.events.len()).collect::<Vec<_>>(),
        [1, 3],
        "one message per agent"
    );
    let title = crate::render::title(&sent[1]);
    assert_eq!(
        title,
        "[WARNING] web-1: 3 alerts (disk-full, high-cpu, memory-leak)"
    );
    let summary = crate::render::summary(&sent[1]).unwrap();
    assert!(
        summary.starts_with("3 events of rules disk-full, high-cpu, memory-leak")
            && summary.contains("agents: web-1;"),
        "{summary}"
    );
}

#[tokio::test(start_paused = true)]
async fn silence_windows_apply_in_the_configured_zone() {
    let stub = StubChannel::new("s");
    let window = SilenceWindow {
        start: TimeOfDay::parse("22:00").unwrap(),
        end: TimeOfDay::parse("02:00").unwrap(),
        recurrence: Recurrence::Daily,
    };
    let options = NotifierOptions {
        silence: SilencePolicy::in_zone(vec![window], Some("Asia/Shanghai")).unwrap(),
        ..no_jitter(0)
    };
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], options);
    // 2026-01-01T17:00Z is 01:00 in Shanghai: silent.
    s.clock.set_ms(T0 + 17 * 3_600_000);
    s.notifier
        .notify(event("quiet", "web-1", Severity::Critical))
        .await;
    settle().await;
    assert!(stub.sent().is_empty());
    assert_eq!(statuses(&s.history), [DeliveryStatus::Silenced]);
    // 18:30Z is 02:30 in Shanghai: delivered.
    s.clock.set_ms(T0 + 18 * 3_600_000 + 1_800_000);
    s.notifier
        .notify(event("loud", "web-1", Severity::Critical))
        .await;
    settle().await;
    assert_eq!(stub.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_with_backoff_and_recorded() {
    let stub = StubChannel::new("s");
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], no_jitter(0));
    stub.fail_next(SendError::retryable("HTTP 500"));
    stub.fail_next(SendError::retry_after("HTTP 429", Duration::from_secs(30)));
    s.notifier
        .notify(event("e", "web-1", Severity::Critical))
        .await;
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(stub.attempts(), 3);
    assert_eq!(stub.sent().len(), 1);
    let h = s.history.all();
    assert_eq!(
        statuses(&s.history),
        [
            DeliveryStatus::Retrying,
            DeliveryStatus::Retrying,
            DeliveryStatus::Sent
        ]
    );
    assert_eq!(h[1].error.as_deref(), Some("HTTP 429"));
    assert_eq!(h.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let stub = StubChannel::new("s");
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], no_jitter(0));
    stub.fail_next(SendError::retry_after("HTTP 429", Duration::from_secs(30)));
    s.notifier
        .notify(event("e", "web-1", Severity::Critical))
        .await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(stub.attempts(), 1, "still waiting for Retry-After");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stub.attempts(), 2);
    assert_eq!(stub.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn permanent_and_exhausted_failures_are_final_and_never_success() {
    let stub = StubChannel::new("s");
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], no_jitter(0));
    stub.fail_next(SendError::permanent("HTTP 400"));
    s.notifier
        .notify(event("p", "web-1", Severity::Critical))
        .await;
    settle().await;
    assert_eq!(stub.attempts(), 1, "no retry on a permanent failure");
    assert_eq!(statuses(&s.history), [DeliveryStatus::Failed]);

    stub.fail_always(Some(SendError::retryable("down")));
    s.notifier
        .notify(event("r", "web-1", Severity::Critical))
        .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(stub.attempts(), 1 + 5, "five attempts in all");
    let h = s.history.all();
    assert_eq!(h.last().unwrap().status, DeliveryStatus::Failed);
    assert_eq!(h.last().unwrap().error.as_deref(), Some("down"));
    assert!(h.iter().all(|r| r.status != DeliveryStatus::Sent));
    assert!(stub.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn over_the_rate_limit_events_fold_into_one_digest() {
    let stub = StubChannel::new("robot");
    let mut route = Route::new(Arc::new(stub.clone()));
    route.rate_limit = Some(RateLimit {
        max: 2,
        per: Duration::from_secs(60),
    });
    let s = setup(vec![route], no_jitter(0));
    for i in 0..5 {
        s.notifier
            .notify(event(
                &format!("e{i}"),
                &format!("web-{i}"),
                Severity::Warning,
            ))
            .await;
        settle().await;
    }
    assert_eq!(stub.sent().len(), 2, "two within budget");
    let deferred = statuses(&s.history)
        .iter()
        .filter(|s| **s == DeliveryStatus::Deferred)
        .count();
    assert_eq!(deferred, 3);
    tokio::time::sleep(Duration::from_secs(61)).await;
    let sent = stub.sent();
    assert_eq!(sent.len(), 3, "the excess went out as one digest");
    assert_eq!(
        sent[2]
            .events
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["e2", "e3", "e4"]
    );
}

#[tokio::test(start_paused = true)]
async fn test_notifications_and_configuration() {
    use oxmon_core::config::ServerConfig;
    let config = ServerConfig::from_toml(
        "[notification]\ntimezone = \"Asia/Shanghai\"\naggregation_window_secs = 0\n\
         [[notification.channels]]\ntype = \"stub\"\nname = \"pager\"\nmin_severity = \"critical\"\n\
         [[notification.channels]]\ntype = \"stub\"\nname = \"broken\"\nfail = \"permanent\"\n",
        "server.toml",
    )
    .unwrap();
    let plugin = crate::StubPlugin::new();
    let mut registry = ChannelRegistry::new();
    registry.register(Arc::new(plugin.clone()));
    let history = Arc::new(MemoryHistory::default());
    let n = Notifier::from_config(
        &registry,
        &config.notification,
        Arc::new(ManualClock::new(T0)),
        history.clone(),
    )
    .unwrap();
    assert_eq!(n.channels(), ["pager", "broken"]);
    n.send_test("pager").await.unwrap();
    let sent = plugin.channel("pager").unwrap().sent();
    assert!(
        sent[0].events[0].message.contains("Test notification"),
        "{sent:?}"
    );
    assert!(matches!(n.send_test("broken").await, Err(Error::Send(_))));
    assert!(matches!(
        n.send_test("nope").await,
        Err(Error::UnknownChannel(_))
    ));
    assert_eq!(
        statuses(&history),
        [DeliveryStatus::Sent, DeliveryStatus::Failed]
    );
}

#[tokio::test(start_paused = true)]
async fn flush_sends_pending_groups_now() {
    let stub = StubChannel::new("s");
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], no_jitter(300));
    s.notifier
        .notify(event("1", "web-1", Severity::Warning))
        .await;
    s.notifier.flush().await;
    assert_eq!(stub.sent().len(), 1);
    tokio::time::sleep(Duration::from_secs(301)).await;
    assert_eq!(stub.sent().len(), 1, "the timer finds nothing left");
}

#[tokio::test(start_paused = true)]
async fn set_routes_applies_to_the_next_event_and_keeps_unchanged_rate_limits() {
    let robot = StubChannel::new("robot");
    let robot: Arc<dyn Channel> = Arc::new(robot);
    let mut limited = Route::new(robot.clone());
    limited.rate_limit = Some(RateLimit {
        max: 1,
        per: Duration::from_secs(60),
    });
    let old = StubChannel::new("old");
    let s = setup(
        vec![limited.clone(), Route::new(Arc::new(old.clone()))],
        no_jitter(0),
    );
    s.notifier
        .notify(event("e0", "web-1", Severity::Warning))
        .await;
    settle().await;

    // "old" goes, "new" comes, the robot's route is the same one.
    let new = StubChannel::new("new");
    s.notifier
        .set_routes(vec![limited, Route::new(Arc::new(new.clone()))]);
    assert_eq!(s.notifier.channels(), ["robot", "new"]);
    s.notifier
        .notify(event("e1", "web-1", Severity::Warning))
        .await;
    settle().await;
    assert_eq!(old.sent().len(), 1, "a removed channel gets nothing more");
    assert_eq!(new.sent().len(), 1, "an added channel gets the next event");
    let deferred = statuses(&s.history)
        .iter()
        .filter(|s| **s == DeliveryStatus::Deferred)
        .count();
    assert_eq!(
        deferred, 1,
        "the robot's spent budget survived the switch: e1 waits"
    );
}

#[tokio::test(start_paused = true)]
async fn set_silence_windows_applies_to_the_next_event() {
    use oxmon_core::testing::silence_window;
    let stub = StubChannel::new("s");
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], no_jitter(0));
    // Every minute but 23:59 (T0 is 10:30 UTC, the default options' zone).
    s.notifier
        .set_silence_windows(vec![silence_window("00:00", "23:59", Recurrence::Daily)]);
    s.notifier
        .notify(event("quiet", "web-1", Severity::Critical))
        .await;
    settle().await;
    assert!(stub.sent().is_empty(), "silenced by the new window");
    assert_eq!(statuses(&s.history), [DeliveryStatus::Silenced]);
    s.notifier.set_silence_windows(Vec::new());
    s.notifier
        .notify(event("loud", "web-1", Severity::Critical))
        .await;
    settle().await;
    assert_eq!(stub.sent().len(), 1, "the window is gone");
}

#[tokio::test(start_paused = true)]
async fn set_aggregation_window_applies_to_the_next_event() {
    let stub = StubChannel::new("s");
    let s = setup(vec![Route::new(Arc::new(stub.clone()))], no_jitter(300));
    s.notifier.set_aggregation_window(Duration::ZERO);
    s.notifier
        .notify(event("now", "web-1", Severity::Warning))
        .await;
    settle().await;
    assert_eq!(stub.sent().len(), 1, "no window: sent at once");
    s.notifier.set_aggregation_window(Duration::from_secs(60));
    s.notifier
        .notify(event("later", "web-1", Severity::Warning))
        .await;
    settle().await;
    assert_eq!(stub.sent().len(), 1, "held for the new window");
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(stub.sent().len(), 2);
}
