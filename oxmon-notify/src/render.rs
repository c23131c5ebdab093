//! Message texts shared by the channels: markdown, short texts, JSON fields,
//! and cutting to a size limit on a UTF-8 boundary.

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

/// For a notification of several events: how many, of which rule, on which
/// agents and series, the highest severity. `None` for a single event.
pub fn summary(n: &Notification) -> Option<String> {
    if n.events.len() < 2 {
        return None;
    }
    let mut agents: Vec<&str> = n.events.iter().map(AlertEvent::agent_id).collect();
    agents.sort_unstable();
    agents.dedup();
    let mut series: Vec<String> = n.events.iter().map(|e| e.series.to_string()).collect();
    series.sort_unstable();
    series.dedup();
    Some(format!(
        "{} events of rule {}, highest severity {}, agents: {}; series: {}",
        n.events.len(),
        n.events[0].rule,
        n.severity(),
        agents.join(", "),
        series.join(", ")
    ))
}

/// A markdown message (DingTalk, WeCom): a heading with the title, an
/// optional summary, then severity, status, agent, metric, labels, value,
/// threshold, time and message for each event.
pub fn markdown(n: &Notification) -> String {
    let mut out = format!("### {}\n\n", n.title());
    if let Some(s) = summary(n) {
        let _ = writeln!(out, "{s}\n");
    }
    for (i, e) in n.events.iter().enumerate() {
        if i > 0 {
            out.push_str("\n---\n\n");
        }
        let status = match e.status {
            AlertStatus::Firing => "FIRING",
            AlertStatus::Resolved => "RESOLVED",
        };
        let _ = writeln!(
            out,
            "- **Severity**: {}",
            e.severity.as_str().to_ascii_uppercase()
        );
        let _ = writeln!(out, "- **Status**: {status}");
        let _ = writeln!(out, "- **Rule**: {}", e.rule);
        let _ = writeln!(out, "- **Agent**: {}", e.agent_id());
        let _ = writeln!(out, "- **Metric**: {}", e.metric());
        if !e.series.labels.is_empty() {
            let _ = writeln!(out, "- **Labels**: {}", e.series.labels);
        }
        let _ = writeln!(out, "- **Value**: {}", fmt_value(e.value));
        if let Some(t) = e.threshold {
            let _ = writeln!(out, "- **Threshold**: {}", fmt_value(t));
        }
        let _ = writeln!(out, "- **Time**: {}", rfc3339_secs(e.timestamp_ms));
        let _ = writeln!(out, "- **Message**: {}", e.message.replace('\n', " "));
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
        Some(t) => format!("{} at {t}", n.title()),
        None => n.title(),
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
}
