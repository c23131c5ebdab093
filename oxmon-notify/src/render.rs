//! Every text a notification becomes, in one place: the title, the plain
//! text, markdown, the short text of an SMS, the JSON of an event, and
//! cutting to a size limit on a UTF-8 boundary. The plain text and the
//! markdown list the same fields of each event, from [`event_fields`].

use std::fmt::Write as _;

use oxmon_core::time::rfc3339_secs;
use oxmon_core::{AlertEvent, AlertStatus, Notification, fmt_value};

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

/// `s` cut to at most `max` bytes on a character boundary, ending in `…`
/// when something was cut.
pub fn truncate_with_marker(s: &str, max: usize) -> String {
    const MARK: &str = "\n…";
    if s.len() <= max {
        return s.to_owned();
    }
    let mut out = truncate_utf8(s, max.saturating_sub(MARK.len())).to_owned();
    out.push_str(MARK);
    out
}

/// The distinct values of `f` over the events, sorted.
fn distinct<'a>(events: &'a [AlertEvent], f: impl Fn(&'a AlertEvent) -> &'a str) -> Vec<&'a str> {
    let mut values: Vec<&str> = events.iter().map(f).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// A one-line subject: `[CRITICAL] high-cpu on web-1: cpu.usage = 97.5`;
/// for several events of one rule `[WARNING] disk-full: 3 alerts on 2
/// agents`, of one agent (`group_by = "agent"`) `[CRITICAL] web-1: 3
/// alerts (disk-full, high-cpu)`.
pub fn title(n: &Notification) -> String {
    let sev = n.severity().as_str().to_ascii_uppercase();
    let prefix = match n.status() {
        AlertStatus::Resolved => format!("[RESOLVED {sev}]"),
        AlertStatus::Firing => format!("[{sev}]"),
    };
    match n.events.as_slice() {
        [] => format!("{prefix} (no events)"),
        [e] => format!(
            "{prefix} {} on {}: {} = {}",
            e.rule,
            e.agent_id(),
            e.metric(),
            fmt_value(e.value)
        ),
        events => {
            let agents = distinct(events, AlertEvent::agent_id);
            let rules = distinct(events, |e| e.rule.as_str());
            match (rules.as_slice(), agents.as_slice()) {
                ([rule], _) => format!(
                    "{prefix} {rule}: {} alerts on {} agents",
                    events.len(),
                    agents.len()
                ),
                (_, [agent]) => format!(
                    "{prefix} {agent}: {} alerts ({})",
                    events.len(),
                    rules.join(", ")
                ),
                _ => format!(
                    "{prefix} {} alerts of {} rules on {} agents",
                    events.len(),
                    rules.len(),
                    agents.len()
                ),
            }
        }
    }
}

/// What is said of one event, in order, as (name, value): status,
/// severity, rule, agent, metric, labels, value, threshold, time (UTC,
/// RFC 3339), how long it fired (when resolved), the predicted breach
/// (trend rules) and the message. Absent fields are left out.
pub fn event_fields(e: &AlertEvent) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("Status", e.status.as_str().to_owned()),
        ("Severity", e.severity.to_string()),
        ("Rule", e.rule.clone()),
        ("Agent", e.agent_id().to_owned()),
        ("Metric", e.metric().to_owned()),
    ];
    if !e.series.labels.is_empty() {
        out.push(("Labels", e.series.labels.to_string()));
    }
    out.push(("Value", fmt_value(e.value)));
    if let Some(t) = e.threshold {
        out.push(("Threshold", fmt_value(t)));
    }
    out.push(("Time", rfc3339_secs(e.timestamp_ms)));
    if e.status == AlertStatus::Resolved {
        out.push(("Firing for", format!("{}s", e.firing_for_ms() / 1000)));
    }
    if let Some(p) = &e.prediction {
        out.push((
            "Predicted breach",
            format!("{} (R² {:.2})", rfc3339_secs(p.breach_at_ms), p.r_squared),
        ));
    }
    out.push(("Message", e.message.clone()));
    out
}

/// A plain-text body: every event's [`event_fields`] as `Name: value`
/// lines, events separated by an empty line.
pub fn text(n: &Notification) -> String {
    let mut out = String::new();
    for (i, e) in n.events.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (name, value) in event_fields(e) {
            let _ = writeln!(out, "{name}: {value}");
        }
    }
    out
}

/// For a notification of several events: how many, of which rule, on which
/// agents and series, the highest severity. `None` for a single event.
pub fn summary(n: &Notification) -> Option<String> {
    if n.events.len() < 2 {
        return None;
    }
    let agents = distinct(&n.events, AlertEvent::agent_id);
    let rules = distinct(&n.events, |e| e.rule.as_str());
    let mut series: Vec<String> = n.events.iter().map(|e| e.series.to_string()).collect();
    series.sort_unstable();
    series.dedup();
    let of = match rules.as_slice() {
        [rule] => format!("rule {rule}"),
        _ => format!("rules {}", rules.join(", ")),
    };
    Some(format!(
        "{} events of {of}, highest severity {}, agents: {}; series: {}",
        n.events.len(),
        n.severity(),
        agents.join(", "),
        series.join(", ")
    ))
}

/// A markdown message (DingTalk, WeCom): a heading with the title, an
/// optional summary, then each event's [`event_fields`] as a list.
pub fn markdown(n: &Notification) -> String {
    let mut out = format!("### {}\n\n", title(n));
    if let Some(s) = summary(n) {
        let _ = writeln!(out, "{s}\n");
    }
    for (i, e) in n.events.iter().enumerate() {
        if i > 0 {
            out.push_str("\n---\n\n");
        }
        for (name, value) in event_fields(e) {
            let _ = writeln!(out, "- **{name}**: {}", value.replace('\n', " "));
        }
    }
    out
}

/// A one-line text for SMS: the title and the time, at most `max` characters.
pub fn short_text(n: &Notification, max_chars: usize) -> String {
    let time = n
        .events
        .iter()
        .map(|e| e.timestamp_ms)
        .max()
        .map(rfc3339_secs);
    let text = match time {
        Some(t) => format!("{} at {t}", title(n)),
        None => title(n),
    };
    if text.chars().count() <= max_chars {
        return text;
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One event as a JSON object with every field (times both as RFC 3339 and ms).
pub fn event_json(e: &AlertEvent) -> serde_json::Value {
    let labels: serde_json::Map<String, serde_json::Value> = e
        .series
        .labels
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
        .collect();
    serde_json::json!({
        "id": e.id,
        "rule": e.rule,
        "agent_id": e.agent_id(),
        "metric": e.metric(),
        "labels": labels,
        "severity": e.severity.as_str(),
        "status": e.status.as_str(),
        "value": e.value,
        "threshold": e.threshold,
        "timestamp": rfc3339_secs(e.timestamp_ms),
        "timestamp_ms": e.timestamp_ms,
        "fired_at_ms": e.fired_at_ms,
        "prediction": e.prediction,
        "message": e.message,
    })
}

/// A minimal HTML escape for the email alternative part.
#[cfg(feature = "email")]
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use oxmon_core::Severity;
    use oxmon_core::testing::{T0, sample_event};

    use super::*;

    #[test]
    fn truncation_respects_utf8_boundaries() {
        let s = "ab✓cd"; // ✓ is 3 bytes: a b [✓✓✓] c d
        assert_eq!(truncate_utf8(s, 3), "ab");
        assert_eq!(truncate_utf8(s, 4), "ab");
        assert_eq!(truncate_utf8(s, 5), "ab✓");
        assert_eq!(truncate_utf8(s, 100), s);
        let long = "警".repeat(2000); // 6000 bytes
        let cut = truncate_with_marker(&long, 4096);
        assert!(cut.len() <= 4096 && cut.ends_with('…'), "{}", cut.len());
    }

    #[test]
    fn markdown_and_summary_name_everything() {
        let a = sample_event("1", "web-1", Severity::Warning, T0);
        let mut b = sample_event("2", "web-2", Severity::Critical, T0 + 1000);
        b.series.labels.insert("mount", "/var");
        let n = Notification { events: vec![a, b] };
        let md = markdown(&n);
        for needle in [
            "web-1",
            "web-2",
            "CRITICAL",
            "**Threshold**: 90",
            "2026-01-01T00:00:00Z",
            "2 events",
        ] {
            assert!(md.contains(needle), "{needle} missing: {md}");
        }
        let s = summary(&n).unwrap();
        assert!(
            s.contains("highest severity critical") && s.contains("web-1, web-2"),
            "{s}"
        );
        let short = short_text(&n, 60);
        assert_eq!(short.chars().count(), 60);
    }

    /// The event of a `high-cpu` rule on `agent`: 97.5 against 90, firing
    /// for 300 s at 2026-02-06T10:30:00Z.
    fn cpu_event(agent: &str, status: AlertStatus, severity: Severity) -> AlertEvent {
        let mut e = sample_event("e1", agent, severity, 1_770_373_800_000);
        e.rule = "high-cpu".into();
        e.series = oxmon_core::SeriesKey::new(agent, "cpu.usage", oxmon_core::Labels::new());
        e.status = status;
        e.value = 97.5;
        e.message = "cpu.usage 97.5 > 90 for 300s".into();
        e
    }

    #[test]
    fn title_and_body_name_everything() {
        let n = Notification::single(cpu_event("web-1", AlertStatus::Firing, Severity::Critical));
        assert_eq!(title(&n), "[CRITICAL] high-cpu on web-1: cpu.usage = 97.5");
        let body = text(&n);
        for needle in [
            "Severity: critical",
            "Agent: web-1",
            "Metric: cpu.usage",
            "Value: 97.5",
            "Threshold: 90",
            "Time: 2026-02-06T10:30:00Z",
        ] {
            assert!(body.contains(needle), "{needle} missing in {body}");
        }
        let many = Notification {
            events: vec![
                cpu_event("web-1", AlertStatus::Firing, Severity::Warning),
                cpu_event("web-2", AlertStatus::Firing, Severity::Critical),
                cpu_event("web-2", AlertStatus::Resolved, Severity::Info),
            ],
        };
        assert_eq!(many.severity(), Severity::Critical);
        assert_eq!(title(&many), "[CRITICAL] high-cpu: 3 alerts on 2 agents");
        let resolved =
            Notification::single(cpu_event("web-1", AlertStatus::Resolved, Severity::Warning));
        assert!(title(&resolved).starts_with("[RESOLVED WARNING]"));
        assert!(text(&resolved).contains("Firing for: 300s"));
        assert_eq!(
            markdown(&resolved).matches("- **").count(),
            event_fields(&resolved.events[0]).len(),
            "markdown lists the same fields as the text"
        );
    }
}
