//! The schedule's ticks: Tokio's interval, or on Linux a kernel timer
//! (`timerfd`) that wakes the process once per tick.
//!
//! Tokio keeps timers in a hierarchical wheel: a deadline a second or more
//! away sits in a coarse slot, and the runtime wakes at that slot's start to
//! move it to a finer one, two or three times before the deadline itself.
//! For an agent that sleeps between collections these early wake-ups are
//! most of its wake-ups (a context switch each, tens of microseconds on a
//! virtual machine). A `timerfd` armed with the interval wakes exactly at
//! each tick. It follows the real monotonic clock, so it is not for Tokio's
//! paused time (tests); [`Ticks::new`] is told which one to use.

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

/// A tick every interval, the first at once; a tick missed while the loop
/// was busy is skipped (the ticks stay on their grid instead of bursting).
#[derive(Debug)]
pub(crate) enum Ticks {
    Tokio(Interval),
    #[cfg(target_os = "linux")]
    Kernel(kernel::TimerFd),
}

impl Ticks {
    /// Ticks every `interval`: from a kernel timer when `precise` and the
    /// system has one (Linux), else from Tokio's timer wheel.
    pub(crate) fn new(interval: Duration, precise: bool) -> Self {
        #[cfg(target_os = "linux")]
        if precise {
            match kernel::TimerFd::new(interval) {
                Ok(t) => return Ticks::Kernel(t),
                Err(e) => {
                    tracing::debug!(error = %e, "no kernel timer; ticks from the runtime's timer");
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = precise;
        Ticks::Tokio(tokio_interval(interval))
    }

    /// Waits for the next tick and returns when it was scheduled.
    pub(crate) async fn tick(&mut self) -> Instant {
        match self {
            Ticks::Tokio(i) => i.tick().await,
            #[cfg(target_os = "linux")]
            Ticks::Kernel(t) => match t.tick().await {
                Ok(at) => at,
                Err(e) => {
                    // Cannot happen with a valid timerfd; keep ticking anyway.
                    tracing::warn!(error = %e, "kernel timer failed; ticks from the runtime's timer");
                    let mut i = tokio_interval(t.interval());
                    let at = i.tick().await;
                    *self = Ticks::Tokio(i);
                    at
                }
            },
        }
    }
}

fn tokio_interval(interval: Duration) -> Interval {
    let mut i = tokio::time::interval(interval);
    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
    i
}

#[cfg(target_os = "linux")]
mod kernel {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::time::Instant;

    /// A periodic `timerfd` on the monotonic clock (the clock of
    /// `std::time::Instant`), read through the runtime's I/O driver.
    #[derive(Debug)]
    pub(crate) struct TimerFd {
        fd: AsyncFd<OwnedFd>,
        interval: Duration,
        /// The first tick, returned at once.
        start: Instant,
        /// Ticks elapsed since `start`.
        ticks: u64,
        first: bool,
    }

    fn timespec(d: Duration) -> Timespec {
        Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(d.subsec_nanos()),
        }
    }

    impl TimerFd {
        pub(crate) fn new(interval: Duration) -> io::Result<Self> {
            let interval = interval.max(Duration::from_millis(1));
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            let start = Instant::now();
            // Relative: the first expiry one interval from now, then every
            // interval; the kernel counts expiries nobody read.
            timerfd_settime(
                &fd,
                TimerfdTimerFlags::empty(),
                &Itimerspec {
                    it_interval: timespec(interval),
                    it_value: timespec(interval),
                },
            )?;
            // `AsyncFd::new` is deprecated for types whose `as_raw_fd` may
            // change or close under it (tokio#8587); its replacement is
            // `unsafe`, which this project forbids. An `OwnedFd` owns its
            // descriptor for its whole life, moved into the `AsyncFd`, so
            // the contract `register` asks for holds.
            #[allow(deprecated)]
            let fd = AsyncFd::new(fd)?;
            Ok(Self {
                fd,
                interval,
                start,
                ticks: 0,
                first: true,
            })
        }

        pub(crate) fn interval(&self) -> Duration {
            self.interval
        }

        /// The next tick's scheduled time; expiries missed since the last
        /// call are skipped (the latest one is returned).
        pub(crate) async fn tick(&mut self) -> io::Result<Instant> {
            if std::mem::take(&mut self.first) {
                return Ok(self.start);
            }
            loop {
                let mut ready = self.fd.readable().await?;
                let read = ready.try_io(|fd| {
                    let mut count = [0u8; 8];
                    match rustix::io::read(fd.get_ref(), &mut count) {
                        Ok(8) => Ok(u64::from_ne_bytes(count)),
                        Ok(_) => Err(io::Error::new(io::ErrorKind::InvalidData, "short read")),
                        Err(e) => Err(e.into()),
                    }
                });
                match read {
                    Ok(Ok(expired)) => {
                        // Read to empty: not readable until the next expiry
                        // (an expiry since this wait began stays ready).
                        ready.clear_ready();
                        self.ticks = self.ticks.saturating_add(expired);
                        let nanos = self.interval.as_nanos() * u128::from(self.ticks);
                        let elapsed =
                            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
                        return Ok(self.start.checked_add(elapsed).unwrap_or_else(Instant::now));
                    }
                    Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(Err(e)) => return Err(e),
                    // Not readable after all: wait again.
                    Err(_would_block) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel timer against the real clock (what it is for): ticks on
    /// the grid from the first, never early, missed ones skipped rather
    /// than burst. The busy spell is real time passing; intervals long
    /// enough that a loaded machine does not skip a tick by accident.
    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_ticks_keep_the_grid_and_skip_what_was_missed() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let every = Duration::from_millis(200);
            let mut ticks = Ticks::new(every, true);
            assert!(matches!(ticks, Ticks::Kernel(_)), "{ticks:?}");
            let t0 = ticks.tick().await;
            assert!(Instant::now() - t0 < every, "the first tick is at once");
            let t1 = ticks.tick().await;
            assert_eq!(t1 - t0, every);
            assert!(Instant::now() >= t1, "never early");

            // Busy for three and a half intervals: the ticks missed are
            // skipped, the next one is the latest expiry, on the grid.
            std::thread::sleep(every * 7 / 2);
            let t2 = ticks.tick().await;
            let steps = (t2 - t0).as_nanos() / every.as_nanos();
            assert_eq!((t2 - t0).as_nanos() % every.as_nanos(), 0);
            assert!(steps >= 4, "{steps}");
            let t3 = ticks.tick().await;
            assert_eq!(t3 - t2, every, "no burst to catch up");
            assert!(Instant::now() >= t3);
        });
    }

    #[test]
    fn without_precision_the_runtime_ticks() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut ticks = Ticks::new(Duration::from_secs(10), false);
            assert!(matches!(ticks, Ticks::Tokio(_)));
            let t0 = ticks.tick().await;
            assert_eq!(ticks.tick().await - t0, Duration::from_secs(10));
        });
    }
}
