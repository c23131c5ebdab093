//! One collection: every collector once, failures isolated.

use std::panic::{AssertUnwindSafe, catch_unwind};

use oxmon_core::validate::{SampleLimits, check_sample, sample_error};
use oxmon_core::{CollectContext, Collector, Sample};

/// A collector that failed during a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectFailure {
    /// The collector's name (`cpu`, `disk`, ...).
    pub collector: String,
    /// What went wrong.
    pub message: String,
}

/// Runs every collector once for `ctx`, appending to `out`.
///
/// A collector that fails, or panics, is reported in the returned list and
/// the others still run: one unreadable source never costs the others'
/// samples. Samples the server would refuse under its default limits (see
/// [`check_sample`]: an empty or overlong name, too many labels, a
/// non-finite value) are dropped here and reported as a failure of their
/// collector, so one bad sample never gets a whole batch rejected.
pub fn run_collectors(
    collectors: &mut [Box<dyn Collector>],
    ctx: &CollectContext<'_>,
    out: &mut Vec<Sample>,
) -> Vec<CollectFailure> {
    let mut failures = Vec::new();
    for c in collectors.iter_mut() {
        let before = out.len();
        let result = catch_unwind(AssertUnwindSafe(|| c.collect(ctx, out)));
        let message = match result {
            Ok(Ok(())) => {
                let mut fresh = out.split_off(before);
                let (mut first, mut bad, mut index) = (None, 0, 0);
                fresh.retain(|s| {
                    index += 1;
                    let Some(p) = check_sample(s, &SampleLimits::default()) else {
                        return true;
                    };
                    first.get_or_insert_with(|| sample_error(index - 1, s, &p));
                    bad += 1;
                    false
                });
                out.append(&mut fresh);
                match first {
                    None => continue,
                    Some(first) => format!("{bad} invalid samples dropped (first: {first})"),
                }
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => {
                // A panicking collector may have pushed part of its samples.
                out.truncate(before);
                "panicked".to_owned()
            }
        };
        failures.push(CollectFailure {
            collector: c.name().to_owned(),
            message,
        });
    }
    failures
}

#[cfg(test)]
mod tests {
    use oxmon_core::{Error, Labels};

    use super::*;

    #[derive(Debug)]
    struct Scripted(
        &'static str,
        fn(&CollectContext<'_>, &mut Vec<Sample>) -> oxmon_core::Result<()>,
    );

    impl Collector for Scripted {
        fn name(&self) -> &str {
            self.0
        }

        fn collect(
            &mut self,
            ctx: &CollectContext<'_>,
            out: &mut Vec<Sample>,
        ) -> oxmon_core::Result<()> {
            (self.1)(ctx, out)
        }
    }

    #[test]
    fn failing_and_panicking_collectors_do_not_cost_the_others() {
        let ok = |ctx: &CollectContext<'_>, out: &mut Vec<Sample>| {
            out.push(Sample::new(
                "ok.metric",
                Labels::new(),
                ctx.timestamp_ms,
                1.0,
            ));
            Ok(())
        };
        let fails =
            |_: &CollectContext<'_>, _: &mut Vec<Sample>| Err(Error::Collect("no /proc".into()));
        let panics = |ctx: &CollectContext<'_>, out: &mut Vec<Sample>| {
            out.push(Sample::new("half", Labels::new(), ctx.timestamp_ms, 1.0));
            panic!("collector bug")
        };
        let garbage = |ctx: &CollectContext<'_>, out: &mut Vec<Sample>| {
            for (metric, v) in [("ok.metric", 1.0), ("nan", f64::NAN), ("", 1.0)] {
                out.push(Sample::new(metric, Labels::new(), ctx.timestamp_ms, v));
            }
            Ok(())
        };
        let mut cs: Vec<Box<dyn Collector>> = vec![
            Box::new(Scripted("a", ok)),
            Box::new(Scripted("b", fails)),
            Box::new(Scripted("c", panics)),
            Box::new(Scripted("d", ok)),
            Box::new(Scripted("e", garbage)),
        ];
        let ctx = CollectContext {
            agent_id: "x",
            timestamp_ms: 7,
        };
        let mut out = Vec::new();
        let failures = run_collectors(&mut cs, &ctx, &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(
            out.iter()
                .all(|s| s.metric == "ok.metric" && s.timestamp_ms == 7)
        );
        let names: Vec<&str> = failures.iter().map(|f| f.collector.as_str()).collect();
        assert_eq!(names, ["b", "c", "e"]);
        assert!(failures[0].message.contains("no /proc"));
        assert!(
            failures[2].message.starts_with("2 invalid samples"),
            "{failures:?}"
        );
        assert!(
            failures[2]
                .message
                .ends_with("(first: sample 1 (nan): value NaN is not finite)"),
            "{failures:?}"
        );
    }
}
