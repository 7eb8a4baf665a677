//! The `Shipper` actor: one per enabled backend. It reads batches from the
//! WAL at its own cursor, posts them as remote-write requests, and
//! acknowledges what the backend took (or rejected for good).
//!
//! Scheduling: with a small backlog it sends every `sender.flush_interval`;
//! a full batch (`sender.batch_size` samples) is followed at once by the
//! next, until drained. The next batch is read and its body built while
//! requests are in flight; the records of a batch go out as stored,
//! joined without decompressing (each payload already is a compressed
//! `WriteRequest`). Up to `concurrency`
//! requests are in flight (default 1, which keeps each series in
//! timestamp order); the cursor passes a batch only when every batch
//! before it is done. A failed request stops new ones until those in
//! flight end; then the retry reads from the cursor again.
//!
//! The POST is blocking (ureq), so it runs in `spawn_blocking`, never on the
//! event loop. How each answer is treated is docs/DESIGN.md's table, decided by
//! `remote_write::classify`:
//!
//! - 2xx: acknowledge. 400/422: split the batch in halves at series
//!   boundaries down to what is refused, drop and count only that
//!   (`rejected`), log the body. 413: split the same way and retry. While
//!   the backend has stored nothing of a batch, its split requests are
//!   [`REFUSED_SPLIT_PAUSE`] apart, and a batch refused whole is followed
//!   by the retry backoff: a backend refusing everything is not hammered.
//! - 401/403, 404/405: keep, retry with the long backoff, log the hint.
//! - 429/5xx: keep, exponential backoff with jitter, honour `Retry-After`.
//! - connection errors: keep; a cheap TCP reachability check every second
//!   notices the backend's return within about a second, without sending
//!   whole requests to a server that is not there.
//!
//! It never drops data to make progress on a retryable error.
//!
//! `backfill: newest_first` reads through the WAL's `ranges.rs`: at most
//! one live read (the newest records) per flush interval and the backlog
//! between them; each batch is acknowledged as its own range as soon as
//! it is done, and a live batch is posted before backfill batches. A
//! failure makes the retry a live read. `max_bytes_per_second` puts a
//! `ratelimit::TokenBucket` before each request (bodies and heads) and
//! bounds reads to its size. The outage, refusal and backoff decisions
//! are `health::Health`, a plain type; this actor turns its answers into
//! log lines, `/healthz` state and wake-ups.

pub mod backoff;
pub mod health;
pub mod ratelimit;
pub mod remote_write;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::Either;

use crate::config::{BackendConfig, Backfill, SenderConfig};
use crate::proto;
use crate::sample::{BackendId, Labels, Seq};
use crate::telemetry::Telemetry;
use crate::wal::{self, Ack, DropReason, ReadBatch, Release, Wal};

use health::{Delivery, Health, OutageLog, Retry};
use ratelimit::TokenBucket;
use remote_write::{Client, ShipError, Verdict};

/// Gap between TCP reachability checks while a backend is unreachable.
const REACH_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Connect timeout of one reachability check.
const REACH_CHECK_TIMEOUT: Duration = Duration::from_millis(800);
/// The requests an out-of-order refusal may cost while nothing of the
/// batch is stored: a backfill batch refused as out of order is refused
/// whole (every series is older than its head), so the split that looks
/// for storable series gives up quickly, unlike for invalid samples.
const MAX_POSTS_OUT_OF_ORDER: u32 = 4;

/// Logged (at most every `health::REJECTION_LOG_EVERY`) when a backend refuses
/// samples as out of order.
pub const OUT_OF_ORDER_HINT: &str =
    "Backend refused samples as out of order or too old; they were \
     dropped and counted (reason out_of_order). On Prometheus set \
     storage.tsdb.out_of_order_time_window (e.g. 1h, in its config file) to take a backfill, or \
     set backfill: in_order for this backend.";

/// Sent by the shipper to itself: look for work now.
#[derive(Message)]
#[rtype(result = "()")]
struct Wake;

/// Stop: finish the request in flight, make one last bounded attempt
/// (when `last_attempt`), and report the totals.
#[derive(Message)]
#[rtype(result = "ShipSummary")]
pub struct Drain {
    pub deadline: Instant,
    /// Send what is pending once more before the deadline (at stop), or
    /// only wait for the request in flight (a backend being restarted
    /// with new settings: its successor sends the rest).
    pub last_attempt: bool,
}

/// What a shipper did in its life; logged as `Sender stopped.`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipSummary {
    /// Requests the backend stored.
    pub requests_ok: u64,
    /// Requests that failed (kept for retry or rejected).
    pub requests_failed: u64,
    /// Samples the backend stored.
    pub samples_sent: u64,
}

/// Why a batch was kept for a later attempt.
#[derive(Debug)]
enum Keep {
    Unreachable(ShipError),
    /// Other transport failures (timeouts, TLS): plain backoff.
    Transport(ShipError),
    Status {
        verdict: Verdict,
        answer: remote_write::Response,
    },
}

impl Keep {
    /// One of [`FAILURE_REASONS`].
    fn reason(&self) -> &'static str {
        match self {
            Keep::Unreachable(_) => "unreachable",
            Keep::Transport(ShipError::Timeout { .. }) => "timeout",
            Keep::Transport(_) => "transport",
            Keep::Status { verdict, .. } => match verdict {
                Verdict::Credentials => "credentials",
                Verdict::NotFound => "not_found",
                _ => "server",
            },
        }
    }
}

/// The `reason` labels of `sentinel_send_failures_total`: [`Keep::reason`]'s
/// and `rejected`.
const FAILURE_REASONS: [&str; 7] = [
    "unreachable",
    "timeout",
    "transport",
    "credentials",
    "not_found",
    "server",
    "rejected",
];

/// The most requests a refused batch may cost while the backend takes none
/// of its pieces: the split that finds the refused series goes on as long
/// as some pieces are stored, and stops here when the backend refuses
/// everything.
const MAX_POSTS_PER_BATCH: u32 = 64;

/// The pause before each further request of a refused batch while the
/// backend has stored none of it: the split goes on (a backend that takes
/// some pieces keeps their samples), but a backend that refuses everything
/// gets at most one request per pause, not a burst of
/// [`MAX_POSTS_PER_BATCH`]. Once a piece is stored the split runs unpaced.
pub const REFUSED_SPLIT_PAUSE: Duration = Duration::from_millis(250);

/// Logged once when a backend starts refusing every sample.
pub const REFUSING_ALL: &str = "Backend refused every sample of a batch; it stores nothing at the \
     moment. Refused batches are still split to keep any good samples, with their requests \
     paced; the next batch waits the retry backoff (duration_ms).";

/// The result of delivering one batch (with any 413 splits).
#[derive(Debug, Default)]
struct Delivered {
    /// Requests sent for this batch, splits included.
    posts: u32,
    /// A refused batch used up [`MAX_POSTS_PER_BATCH`]: the pieces not yet
    /// sent are dropped unsent.
    split_spent: bool,
    requests: u64,
    samples: u64,
    dropped: Vec<(DropReason, u64)>,
    /// Requests refused for good (after splitting).
    rejected_requests: u64,
    /// Refusals that say "out of order" (or too old for the backend's
    /// head) count as `out_of_order`: the backend ships `newest_first`,
    /// so such refusals come from the order chosen, not from bad data.
    /// (`in_order` keeps `rejected` for them, as before.)
    classify_out_of_order: bool,
    /// The backend's refusals said "out of order" (or too old for its
    /// head): the pieces are dropped as `out_of_order`.
    out_of_order: bool,
    /// A rejection body to log (first one only).
    rejection: Option<(u16, String)>,
}

/// A batch turned into what goes on the wire, built off the event loop
/// while earlier requests are in flight.
#[derive(Debug, Default)]
struct Prepared {
    /// Snappy-compressed `WriteRequest` bodies in WAL order, with their
    /// samples: one, unless a record holds more than `batch_size` samples.
    /// (A batch's records are joined as stored; decompressed only when one
    /// is damaged, cut by `max_age` or by `batch_size`.)
    bodies: Vec<(Vec<u8>, u64)>,
    /// Samples left out while preparing (damaged records, too old).
    dropped: Vec<(DropReason, u64)>,
    /// What the requests take on the wire: bodies and heads (for the
    /// bandwidth cap; splits after a refusal are not counted ahead).
    wire_bytes: u64,
    /// See [`Delivered::classify_out_of_order`].
    classify_out_of_order: bool,
}

impl Prepared {
    /// Refusals as out of order count as `out_of_order` (`newest_first`).
    fn out_of_order_reason(mut self, yes: bool) -> Prepared {
        self.classify_out_of_order = yes;
        self
    }

    /// Counts the wire bytes of its requests to `client`.
    fn with_heads(mut self, client: &Client) -> Prepared {
        self.wire_bytes = self
            .bodies
            .iter()
            .map(|(b, _)| b.len() as u64 + client.head_bytes(b.len()))
            .sum();
        self
    }
}

/// How fast a backlog goes: samples delivered (or dropped by the
/// backend) per second over the last [`PROGRESS_WINDOW`].
#[derive(Debug, Default)]
struct Progress {
    /// (when, samples) of each delivery in the window, oldest first.
    recent: VecDeque<(Instant, u64)>,
}

/// The averaging time of the delivery rate.
const PROGRESS_WINDOW: Duration = Duration::from_secs(30);

impl Progress {
    /// `samples` more went at `now`.
    fn delivered(&mut self, samples: u64, now: Instant) {
        self.recent.push_back((now, samples));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > PROGRESS_WINDOW)
        {
            self.recent.pop_front();
        }
    }

    /// Samples per second over the window (0 until two deliveries a
    /// second apart, and when nothing went for a window).
    fn rate(&self, now: Instant) -> f64 {
        let (Some((first, _)), Some((last, _))) = (self.recent.front(), self.recent.back()) else {
            return 0.0;
        };
        let span = now.saturating_duration_since(*first).as_secs_f64();
        if span < 1.0 || now.saturating_duration_since(*last) > PROGRESS_WINDOW {
            return 0.0;
        }
        // The first delivery opens the window: its samples went before it.
        let n: u64 = self.recent.iter().skip(1).map(|(_, n)| n).sum();
        n as f64 / span
    }
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn the_rate_is_samples_over_the_last_30_seconds() {
        let t0 = Instant::now();
        let mut p = Progress::default();
        assert_eq!(p.rate(t0), 0.0);
        for i in 0..=10u64 {
            p.delivered(1000, t0 + Duration::from_secs(i));
        }
        assert_eq!(p.rate(t0 + Duration::from_secs(10)), 1000.0);
        // Older deliveries leave the window.
        for i in 11..=60u64 {
            p.delivered(100, t0 + Duration::from_secs(i));
        }
        let r = p.rate(t0 + Duration::from_secs(60));
        assert!((r - 100.0).abs() < 1.0, "{r}");
        assert_eq!(p.rate(t0 + Duration::from_secs(200)), 0.0);
    }
}

/// A batch of the shipper's window.
struct Slot {
    /// Its first record (`newest_first` acknowledges the range).
    first: Seq,
    /// Its last record: what an `Ack` passes.
    last: Seq,
    /// The newest records (`newest_first`): sent before backfill slots.
    live: bool,
    samples: u64,
    state: SlotState,
}

enum SlotState {
    Ready(Arc<Prepared>),
    Posting,
    /// Delivered or rejected; acknowledged once every batch before it is.
    Done(Delivered),
}

/// Ships one backend's view of the WAL.
pub struct Shipper {
    id: BackendId,
    url: String,
    client: Arc<Client>,
    wal: Addr<Wal>,
    telemetry: Arc<Telemetry>,
    batch_size: u64,
    flush_interval: Duration,
    /// `max_sample_age` of the backend: older samples are skipped.
    max_sample_age: Option<Duration>,
    /// Outages, refusals and backoffs (`health.rs`).
    health: Health,
    /// Requests in flight at once (`concurrency` of the backend).
    concurrency: usize,
    /// Which end of a backlog goes first.
    backfill: Backfill,
    /// `max_bytes_per_second`: wire bytes (bodies and heads) per second.
    bucket: Option<TokenBucket>,
    /// Delivery rate for the progress estimate (`/healthz`, status page).
    progress: Progress,
    /// `newest_first`: when the last live read was made (one per flush
    /// interval; `None`: the next read is live, as after a failure).
    last_live: Option<Instant>,
    /// Batches read and not yet acknowledged, in WAL order.
    window: VecDeque<Slot>,
    /// A batch is being read and prepared.
    reading: bool,
    /// Requests in flight.
    posting: usize,
    /// Acknowledgements sent to the WAL and not yet answered.
    acking: usize,
    /// No new reads until the next wake-up: nothing more to read, or
    /// fresh data waits for the flush interval.
    read_paused: bool,
    /// No new requests until the next wake-up (retry backoff).
    post_paused: bool,
    /// A request failed: nothing new starts until the requests in flight
    /// end; then the retry reads from the cursor again.
    broken: bool,
    /// `Drain` arrived: no new batches.
    stopping: bool,
    /// The pending wake-up, so an earlier one can replace it.
    timer: Option<SpawnHandle>,
    /// Whether the last reachability check failed; a change to success
    /// wakes the shipper early.
    reach_failed: bool,
    reach_timer: Option<SpawnHandle>,
    summary: ShipSummary,
}

impl Shipper {
    pub fn new(
        backend: &BackendConfig,
        sender: &SenderConfig,
        wal: Addr<Wal>,
        telemetry: Arc<Telemetry>,
    ) -> Result<Shipper, ShipError> {
        let client = Client::new(backend)?;
        Ok(Shipper {
            id: backend.id.clone(),
            url: remote_write::mask_url(&backend.url),
            client: Arc::new(client),
            wal,
            telemetry,
            batch_size: sender.batch_size as u64,
            flush_interval: sender.flush_interval,
            max_sample_age: backend.max_sample_age,
            health: Health::new(sender.retry.min_backoff, sender.retry.max_backoff),
            concurrency: backend.concurrency.max(1),
            backfill: backend.backfill,
            bucket: backend
                .max_bytes_per_second
                .map(|r| TokenBucket::new(r, Instant::now())),
            progress: Progress::default(),
            last_live: None,
            window: VecDeque::new(),
            reading: false,
            posting: 0,
            acking: 0,
            read_paused: false,
            post_paused: false,
            broken: false,
            stopping: false,
            timer: None,
            reach_failed: false,
            reach_timer: None,
            summary: ShipSummary::default(),
        })
    }

    fn labels(&self) -> Labels {
        Labels::new().with("backend", self.id.as_str())
    }

    /// Adds `n` to `sentinel_samples_sent_total` of this backend.
    fn count_sent(&self, n: u64) {
        self.telemetry.inc(
            "sentinel_samples_sent_total",
            "Samples the backend stored.",
            self.labels(),
            n as f64,
        );
    }

    /// Adds `n` to `sentinel_send_failures_total` of this backend.
    fn count_failures(&self, reason: &str, n: u64) {
        self.telemetry.inc(
            "sentinel_send_failures_total",
            "Failed remote-write requests, by reason.",
            self.labels().with("reason", reason),
            n as f64,
        );
    }

    /// The record bytes one read may take: under a bandwidth cap, what
    /// fits the bucket with a request head, so requests stay smooth.
    fn max_read_bytes(&self) -> u64 {
        match &self.bucket {
            Some(b) => b
                .capacity()
                .saturating_sub(self.client.head_bytes(8))
                .max(1),
            None => u64::MAX,
        }
    }

    fn wake_in(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        self.timer = Some(ctx.notify_later(Wake, delay));
    }

    /// Whether a read, a request or an acknowledgement is under way.
    fn busy(&self) -> bool {
        self.reading || self.posting > 0 || self.acking > 0
    }

    /// Starts what may start now: requests for prepared batches (up to
    /// `concurrency`), and the read of the next batch while earlier ones
    /// are in flight, so reading and encoding overlap the network.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.stopping || self.broken {
            return;
        }
        if !self.post_paused {
            while self.posting < self.concurrency {
                // The present first: a live batch before the backlog.
                let ready = |s: &&mut Slot| matches!(s.state, SlotState::Ready(_));
                let pick = self
                    .window
                    .iter()
                    .position(|s| s.live && matches!(s.state, SlotState::Ready(_)))
                    .or_else(|| {
                        self.window
                            .iter()
                            .position(|s| matches!(s.state, SlotState::Ready(_)))
                    });
                let Some(slot) = pick.and_then(|i| self.window.get_mut(i)).filter(ready) else {
                    break;
                };
                if let (Some(bucket), SlotState::Ready(p)) = (self.bucket.as_mut(), &slot.state) {
                    if let Err(wait) = bucket.take(p.wire_bytes, Instant::now()) {
                        self.post_paused = true;
                        self.wake_in(ctx, wait);
                        break;
                    }
                }
                let SlotState::Ready(prepared) =
                    std::mem::replace(&mut slot.state, SlotState::Posting)
                else {
                    unreachable!("found ready above");
                };
                let (last, samples) = (slot.last, slot.samples);
                self.telemetry.inc(
                    "sentinel_remote_write_bytes_total",
                    "Bytes sent to the backend (request bodies and heads).",
                    self.labels(),
                    prepared.wire_bytes as f64,
                );
                self.posting += 1;
                let fut = self.post(last, samples, prepared);
                ctx.spawn(fut);
            }
        }
        // One batch prepared beyond those in flight.
        if !self.reading && !self.read_paused && self.window.len() <= self.concurrency {
            self.read(ctx);
        }
    }

    /// No new reads until the next wake-up (a backoff already scheduled
    /// stays as it is).
    fn pause_reads(&mut self, ctx: &mut Context<Self>) {
        self.read_paused = true;
        if self.timer.is_none() {
            let d = match self.backfill {
                // Until the next live read is due.
                Backfill::NewestFirst => self.live_wait().max(Duration::from_millis(50)),
                Backfill::InOrder => self.flush_interval,
            };
            self.wake_in(ctx, d);
        }
    }

    /// `newest_first`: how long until the next live read may be made.
    fn live_wait(&self) -> Duration {
        self.last_live.map_or(Duration::ZERO, |t| {
            self.flush_interval.saturating_sub(t.elapsed())
        })
    }

    /// Reads the batch after the last one read, and prepares its body off
    /// the event loop.
    fn read(&mut self, ctx: &mut Context<Self>) {
        self.reading = true;
        let newest_first = self.backfill == Backfill::NewestFirst;
        let live = newest_first && self.live_wait().is_zero();
        let read = self.wal.send(ReadBatch {
            backend: self.id.clone(),
            max_samples: self.batch_size,
            after: if newest_first {
                None
            } else {
                self.window.back().map(|s| s.last)
            },
            newest_first,
            live,
            max_bytes: self.max_read_bytes(),
        });
        let max_age = self.max_sample_age;
        let batch_size = self.batch_size;
        let client = self.client.clone();
        let fut = read.into_actor(self).then(move |res, act, ctx| {
            let batch = match res {
                Ok(Ok(Some(batch))) => batch,
                Ok(Ok(None)) => {
                    act.reading = false;
                    act.pause_reads(ctx);
                    act.settle(ctx);
                    return Either::Left(fut::ready(()));
                }
                Ok(Err(e)) => {
                    log::error!(backend = act.id.as_str(), error:% = e; "Reading the WAL failed.");
                    act.reading = false;
                    act.pause_reads(ctx);
                    act.settle(ctx);
                    return Either::Left(fut::ready(()));
                }
                Err(e) => {
                    log::error!(backend = act.id.as_str(), error:% = e; "The WAL actor is gone.");
                    act.reading = false;
                    act.stopping = true;
                    return Either::Left(fut::ready(()));
                }
            };
            // Back to back while there is a backlog: a full batch, or one
            // whose oldest sample is older than a flush interval (a batch
            // may be short of batch_size only because the next record did
            // not fit). Fresh data waits for the next flush, so a busy
            // agent still sends few, large requests.
            let oldest_ms = batch
                .records
                .first()
                .and_then(|r| wal::record::header(r).ok())
                .map(|h| h.min_ts_ms);
            let backlog = batch.samples >= act.batch_size
                || oldest_ms.is_some_and(|ts| {
                    crate::sample::now_ms() - ts > act.flush_interval.as_millis() as i64
                })
                // newest_first: the WAL reads live data at most once per
                // flush interval (`live`), the backlog meanwhile.
                || newest_first;
            if batch.live {
                act.last_live = Some(Instant::now());
            }
            let (first, last, samples, live) = (batch.first, batch.last, batch.samples, batch.live);
            let records = batch.records;
            let task = actix_rt::task::spawn_blocking(move || {
                prepare(&records, max_age, batch_size)
                    .out_of_order_reason(newest_first)
                    .with_heads(&client)
            });
            Either::Right(task.into_actor(act).map(move |res, act, ctx| {
                act.reading = false;
                match res {
                    Ok(prepared) => act.window.push_back(Slot {
                        first,
                        last,
                        live,
                        samples,
                        state: SlotState::Ready(Arc::new(prepared)),
                    }),
                    Err(e) => {
                        log::error!(backend = act.id.as_str(), error:% = e; "Preparing a batch failed.");
                        // The WAL counts the batch as in flight: once no
                        // request of the window is (settle), it is released
                        // and read again from the cursor.
                        act.broken = true;
                        act.post_paused = true;
                        act.pause_reads(ctx);
                    }
                }
                if !backlog {
                    act.pause_reads(ctx);
                }
                act.settle(ctx);
            }))
        });
        ctx.spawn(fut);
    }

    /// Posts a prepared batch off the event loop and handles the answer.
    fn post(
        &mut self,
        last: Seq,
        samples: u64,
        prepared: Arc<Prepared>,
    ) -> impl ActorFuture<Self, Output = ()> + use<> {
        let client = self.client.clone();
        let started = Instant::now();
        let task = actix_rt::task::spawn_blocking(move || send_prepared(&client, &prepared));
        task.into_actor(self).map(move |res, act, ctx| {
            act.posting -= 1;
            let elapsed = started.elapsed();
            act.telemetry.set(
                "sentinel_remote_write_request_duration_seconds",
                "Duration of the last remote-write attempt (with any splits).",
                act.labels(),
                elapsed.as_secs_f64(),
            );
            let outcome = match res {
                Ok(o) => o,
                Err(e) => Err(Keep::Transport(ShipError::Other {
                    url: act.url.clone(),
                    detail: format!("the sender thread failed: {e}"),
                })),
            };
            match outcome {
                Ok(done) => {
                    if let Some(slot) = act.window.iter_mut().find(|s| s.last == last) {
                        slot.state = SlotState::Done(done);
                    }
                    act.acknowledge(ctx);
                }
                Err(keep) if act.broken => {
                    // Another request of the window failed first; its
                    // retry resends this batch too.
                    act.summary.requests_failed += 1;
                    act.count_failures(keep.reason(), 1);
                }
                Err(keep) => {
                    // Nothing new starts; once the requests in flight end,
                    // the retry reads again from the cursor.
                    act.broken = true;
                    act.post_paused = true;
                    act.read_paused = true;
                    act.kept(ctx, keep, samples);
                }
            }
            act.settle(ctx);
        })
    }

    /// Acknowledges the delivered (or rejected) batches at the front of
    /// the window: the cursor passes a batch only when every batch before
    /// it is done too.
    fn acknowledge(&mut self, ctx: &mut Context<Self>) {
        if self.backfill == Backfill::NewestFirst {
            return self.acknowledge_ranges(ctx);
        }
        let mut through = None;
        let mut dropped = Vec::new();
        let mut pause: Option<Duration> = None;
        while self
            .window
            .front()
            .is_some_and(|s| matches!(s.state, SlotState::Done(_)))
        {
            let slot = self.window.pop_front().expect("front exists");
            let SlotState::Done(done) = slot.state else {
                unreachable!("checked above");
            };
            dropped.extend(done.dropped.iter().copied());
            if let Some(p) = self.delivered(ctx, done, slot.last) {
                pause = Some(pause.map_or(p, |q| q.max(p)));
            }
            through = Some(slot.last);
        }
        let Some(through) = through else {
            return;
        };
        self.send_ack(ctx, None, through, dropped, pause);
    }

    /// `newest_first`: every batch done is acknowledged at once, as its
    /// own range (the order of the window does not matter).
    fn acknowledge_ranges(&mut self, ctx: &mut Context<Self>) {
        let mut pause: Option<Duration> = None;
        while let Some(i) = self
            .window
            .iter()
            .position(|s| matches!(s.state, SlotState::Done(_)))
        {
            let slot = self.window.remove(i).expect("position is in range");
            let SlotState::Done(done) = slot.state else {
                unreachable!("checked above");
            };
            let dropped = done.dropped.clone();
            if let Some(p) = self.delivered(ctx, done, slot.last) {
                pause = Some(pause.map_or(p, |q| q.max(p)));
            }
            self.send_ack(ctx, Some(slot.first), slot.last, dropped, None);
        }
        if pause.is_some() {
            self.pause_after_refusal(ctx, pause);
        }
    }

    /// Sends one `Ack` to the WAL; then pauses when the backend refused
    /// everything.
    fn send_ack(
        &mut self,
        ctx: &mut Context<Self>,
        first: Option<Seq>,
        through: Seq,
        dropped: Vec<(DropReason, u64)>,
        pause: Option<Duration>,
    ) {
        self.acking += 1;
        let ack = self.wal.send(Ack {
            backend: self.id.clone(),
            through,
            first,
            dropped,
        });
        ctx.spawn(ack.into_actor(self).map(|res, act, ctx| {
            act.acking -= 1;
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    log::error!(backend = act.id.as_str(), error:% = e; "Acknowledging a batch failed.")
                }
                Err(e) => {
                    log::error!(backend = act.id.as_str(), error:% = e; "The WAL actor is gone.")
                }
            }
            act.settle(ctx);
        }));
        self.pause_after_refusal(ctx, pause);
    }

    /// A batch refused whole: no new requests or reads for `pause`.
    fn pause_after_refusal(&mut self, ctx: &mut Context<Self>, pause: Option<Duration>) {
        if let Some(pause) = pause {
            self.post_paused = true;
            self.read_paused = true;
            if !self.stopping {
                self.wake_in(ctx, pause);
            }
        }
    }

    /// After a failure, once nothing is in flight: forget the batches read
    /// after the failed one (the retry reads them again from the cursor;
    /// any the backend took already are sent twice, at least once as
    /// always). Then starts what may start.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        if self.broken && self.posting == 0 && !self.reading {
            self.window.clear();
            self.broken = false;
            self.release();
        }
        self.pump(ctx);
    }

    /// Until the retry, the caps may take the failed batch like any other
    /// record. Only once no request of the window is in flight: a cap
    /// must not drop (and count) a batch a request may still deliver (and
    /// the ack count again).
    fn release(&self) {
        self.wal.do_send(Release {
            backend: self.id.clone(),
        });
    }

    /// Counts and logs a delivered batch; returns the pause before the
    /// next one when the backend refused all of it (the retry backoff,
    /// which grows while it refuses everything).
    fn delivered(
        &mut self,
        ctx: &mut Context<Self>,
        done: Delivered,
        last: Seq,
    ) -> Option<Duration> {
        let l = self.labels();
        self.summary.requests_ok += done.requests;
        self.summary.samples_sent += done.samples;
        self.count_sent(done.samples);
        for (reason, n) in &done.dropped {
            if *reason == DropReason::TooOld {
                log::debug!(backend = self.id.as_str(), samples = *n; "Samples older than max_sample_age skipped.");
            }
        }
        let out_of_order: u64 = done
            .dropped
            .iter()
            .filter(|(r, _)| *r == DropReason::OutOfOrder)
            .map(|(_, n)| n)
            .sum();
        self.progress
            .delivered(done.samples + out_of_order, Instant::now());
        self.telemetry.set(
            "sentinel_send_samples_per_second",
            "Samples the backend took per second, averaged over about 30 s (the backlog's drain rate).",
            l.clone(),
            self.progress.rate(Instant::now()),
        );
        let refused = done.rejection.is_some() && !done.out_of_order;
        let rejected: u64 = done
            .dropped
            .iter()
            .filter(|(r, _)| matches!(r, DropReason::Rejected | DropReason::TooLarge))
            .map(|(_, n)| n)
            .sum();
        if refused {
            self.summary.requests_failed += done.rejected_requests;
            self.count_failures("rejected", done.rejected_requests);
        }
        let after = self.health.delivered(
            Delivery {
                samples: done.samples,
                rejected,
                refused,
                out_of_order,
            },
            Instant::now(),
        );
        let body = done.rejection.as_ref().map_or("", |(_, b)| b.as_str());
        if let Some(samples) = after.log_out_of_order {
            log::warn!(
                backend = self.id.as_str(),
                samples = samples,
                backfill = self.backfill.as_str(),
                error = body;
                "{OUT_OF_ORDER_HINT}"
            );
        }
        if let (Some(samples), Some((status, _))) = (after.log_rejected, &done.rejection) {
            let msg = if *status == 413 {
                "Backend refuses even a single series as too large; those samples were dropped and counted. Raise its request size limit."
            } else {
                "Backend refused samples as invalid; only those were dropped and counted."
            };
            log::warn!(
                backend = self.id.as_str(),
                status = *status,
                samples = samples,
                error = body;
                "{msg}"
            );
        }
        log::debug!(backend = self.id.as_str(), samples = done.samples, seq = last.0; "Batch delivered.");
        // A backend that refused every sample of the batch stores nothing:
        // /healthz and backend_up say so until it takes samples again.
        if let Some(pause) = after.pause {
            self.telemetry.set_backend_health(
                self.id.as_str(),
                false,
                "refusing every sample",
                body,
            );
            if after.refusing_started {
                log::warn!(
                    backend = self.id.as_str(),
                    requests = done.posts,
                    duration_ms = pause.as_millis() as u64,
                    error = body;
                    "{REFUSING_ALL}"
                );
            }
        } else if after.healthy_again {
            self.telemetry
                .set_backend_health(self.id.as_str(), true, "", "");
            if after.stores_again {
                log::info!(backend = self.id.as_str(), samples = done.samples; "Backend stores samples again.");
            }
        }
        if let Some(h) = self.reach_timer.take() {
            ctx.cancel_future(h);
        }
        self.reach_failed = false;
        if let Some(duration) = after.outage_ended {
            let backlog = self.telemetry.get("sentinel_wal_samples_pending", &l) as u64;
            log::info!(
                backend = self.id.as_str(),
                duration_ms = duration.as_millis() as u64,
                backlog = backlog;
                "Backend is back; delivering the backlog."
            );
        }
        after.pause
    }

    /// A batch was kept: count, log once per outage, schedule the retry.
    fn kept(&mut self, ctx: &mut Context<Self>, keep: Keep, samples: u64) {
        self.summary.requests_failed += 1;
        // The retry carries the newest records (`newest_first`).
        self.last_live = None;
        self.progress = Progress::default();
        self.telemetry.set(
            "sentinel_send_samples_per_second",
            "Samples the backend took per second, averaged over about 30 s (the backlog's drain rate).",
            self.labels(),
            0.0,
        );
        let reason = keep.reason();
        self.count_failures(reason, 1);
        let backlog = self
            .telemetry
            .get("sentinel_wal_samples_pending", &self.labels())
            .max(samples as f64) as u64;
        let (message, retry) = match &keep {
            Keep::Unreachable(e) | Keep::Transport(e) => (e.to_string(), Retry::Backoff),
            Keep::Status { verdict, answer } => (
                remote_write::explain(*verdict, answer, &self.url),
                match verdict {
                    Verdict::Credentials | Verdict::NotFound => Retry::Long,
                    _ => Retry::After(answer.retry_after),
                },
            ),
        };
        self.telemetry
            .set_backend_health(self.id.as_str(), false, reason, &message);
        let failure = self.health.failed(reason, retry, Instant::now());
        let delay = failure.delay;
        match failure.log {
            OutageLog::Quiet => {
                log::debug!(backend = self.id.as_str(), error = message.as_str(); "Remote write still failing.");
            }
            OutageLog::Again { duration } => {
                log::warn!(
                    backend = self.id.as_str(),
                    backlog = backlog,
                    duration_ms = duration.as_millis() as u64,
                    error = message.as_str();
                    "Remote write still failing; keeping the data in the WAL."
                );
            }
            OutageLog::Started => {
                log::warn!(
                    backend = self.id.as_str(),
                    backlog = backlog,
                    error = message.as_str();
                    "Remote write failed; keeping the data in the WAL and retrying."
                );
            }
        }
        if self.stopping {
            return;
        }
        self.wake_in(ctx, delay);
        if matches!(keep, Keep::Unreachable(_)) {
            self.reach_failed = true;
            self.schedule_reach_check(ctx);
        }
    }

    /// While unreachable: try a TCP connect every second; the first success
    /// after a failure wakes the shipper at once.
    fn schedule_reach_check(&mut self, ctx: &mut Context<Self>) {
        if self.reach_timer.is_some() {
            return;
        }
        let Some(addr) = host_port(&self.url) else {
            return;
        };
        let handle = ctx.run_later(REACH_CHECK_INTERVAL, move |act, ctx| {
            act.reach_timer = None;
            if !act.health.in_outage() || act.stopping {
                return;
            }
            let addr = addr.clone();
            let check = actix_rt::task::spawn_blocking(move || reachable(&addr));
            let fut = async move { check.await.unwrap_or(false) }
                .into_actor(act)
                .map(|ok, act, ctx| {
                    if ok && act.reach_failed {
                        act.reach_failed = false;
                        log::debug!(backend = act.id.as_str(); "Backend accepts connections again.");
                        if !act.busy() {
                            act.wake_in(ctx, Duration::ZERO);
                        }
                    } else if !ok {
                        act.reach_failed = true;
                    }
                    if act.health.in_outage() && !act.stopping {
                        act.schedule_reach_check(ctx);
                    }
                });
            ctx.spawn(fut);
        });
        self.reach_timer = Some(handle);
    }
}

impl Actor for Shipper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        log::info!(backend = self.id.as_str(), url = self.url.as_str(); "Shipper started.");
        self.telemetry
            .set_backend_health(self.id.as_str(), true, "", "");
        // Every failure and drop counter of this backend exists from the
        // start, at 0: `increase()` ignores a series' first value, so a
        // counter first seen at 88 would never fire an alert.
        self.count_sent(0);
        for reason in FAILURE_REASONS {
            self.count_failures(reason, 0);
        }
        for reason in DropReason::ALL {
            self.telemetry
                .count_dropped(self.id.as_str(), reason.as_str(), 0.0);
        }
        self.wake_in(ctx, Duration::ZERO);
    }
}

impl Handler<Wake> for Shipper {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.timer = None;
        self.read_paused = false;
        self.post_paused = false;
        self.pump(ctx);
    }
}

impl Handler<Drain> for Shipper {
    type Result = ResponseActFuture<Self, ShipSummary>;

    /// Waits for the requests in flight, then makes one last attempt at the
    /// backlog if time is left, all within `deadline`.
    fn handle(&mut self, msg: Drain, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let deadline = msg.deadline;
        let last = msg.last_attempt;
        Box::pin(
            wait_idle(deadline)
                .then(move |_, act: &mut Shipper, _| {
                    act.last_attempt(if last { deadline } else { Instant::now() })
                })
                .map(|_, act, _| act.summary),
        )
    }
}

/// Completes when nothing is in flight, or at `deadline`.
fn wait_idle(deadline: Instant) -> std::pin::Pin<Box<dyn ActorFuture<Shipper, Output = ()>>> {
    Box::pin(
        fut::wrap_future::<_, Shipper>(actix_rt::time::sleep(Duration::from_millis(20))).then(
            move |_, act, _| {
                if !act.busy() || Instant::now() >= deadline {
                    Either::Left(fut::ready(()))
                } else {
                    Either::Right(wait_idle(deadline))
                }
            },
        ),
    )
}

impl Shipper {
    /// One bounded attempt at whatever is pending, for a graceful stop:
    /// one batch from the cursor, posted and acknowledged.
    fn last_attempt(&mut self, deadline: Instant) -> impl ActorFuture<Self, Output = ()> + use<> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let skip = self.busy() || remaining.is_zero() || self.health.in_outage();
        // Batches read ahead are read again from the cursor.
        if !skip {
            self.window.clear();
        }
        let newest_first = self.backfill == Backfill::NewestFirst;
        let read = (!skip).then(|| {
            self.wal.send(ReadBatch {
                backend: self.id.clone(),
                max_samples: self.batch_size,
                after: None,
                newest_first,
                live: true,
                max_bytes: self.max_read_bytes(),
            })
        });
        let client = self.client.clone();
        let max_age = self.max_sample_age;
        let batch_size = self.batch_size;
        async move {
            match read?.await {
                Ok(Ok(Some(batch))) => Some(batch),
                _ => None,
            }
        }
        .into_actor(self)
        .then(move |batch, act, _| {
            let Some(batch) = batch else {
                return Either::Left(fut::ready(()));
            };
            act.posting += 1;
            let (first, last, samples) = (batch.first, batch.last, batch.samples);
            let task = actix_rt::task::spawn_blocking(move || {
                send_prepared(
                    &client,
                    &prepare(&batch.records, max_age, batch_size)
                        .out_of_order_reason(newest_first),
                )
            });
            let remaining = deadline.saturating_duration_since(Instant::now());
            let post = task.into_actor(act).then(move |res, act, ctx| {
                act.posting -= 1;
                let done = match res {
                    Ok(Ok(done)) => done,
                    Ok(Err(keep)) => {
                        act.kept(ctx, keep, samples);
                        act.release();
                        return Either::Left(fut::ready(()));
                    }
                    Err(_) => return Either::Left(fut::ready(())),
                };
                let dropped = done.dropped.clone();
                act.delivered(ctx, done, last);
                let ack = act.wal.send(Ack {
                    backend: act.id.clone(),
                    through: last,
                    first: newest_first.then_some(first),
                    dropped,
                });
                Either::Right(fut::wrap_future(ack).map(|res, act: &mut Shipper, _| {
                    if let Ok(Err(e)) = res {
                        log::error!(backend = act.id.as_str(), error:% = e; "Acknowledging a batch failed.")
                    }
                }))
            });
            Either::Right(post.timeout(remaining).map(|_, _, _| ()))
        })
    }
}

/// Turns a batch's records into request bodies (blocking: CRC checks, and
/// decompression only where needed), after skipping what is older than
/// `max_age`. Records that go whole are joined as stored, without
/// decompressing ([`prepare_stored`]). A record of more than `batch_size`
/// samples is cut at series boundaries into requests of at most
/// `batch_size` samples (a single series bigger than that goes whole).
fn prepare(records: &[sled::IVec], max_age: Option<Duration>, batch_size: u64) -> Prepared {
    let cutoff = max_age.map(|a| crate::sample::now_ms() - a.as_millis() as i64);
    if let Some(out) = prepare_stored(records, cutoff, batch_size) {
        return out;
    }
    let mut out = Prepared::default();
    let mut payloads = Vec::with_capacity(records.len());
    let mut samples = 0u64;
    let mut corrupt = 0u64;
    let mut too_old = 0u64;
    for r in records {
        let header = match wal::record::header(r) {
            Ok(h) => h,
            Err(e) => {
                log::error!(error:% = e; "Damaged WAL record skipped.");
                continue;
            }
        };
        if cutoff.is_some_and(|c| header.max_ts_ms < c) {
            too_old += header.samples as u64;
            continue;
        }
        match wal::record::payload(r) {
            Ok(p) => {
                if let Some(c) = cutoff.filter(|c| header.min_ts_ms < *c) {
                    let (kept, n_kept, n_old) = drop_older_than(&p, c);
                    too_old += n_old;
                    samples += n_kept;
                    payloads.push(kept);
                } else {
                    samples += header.samples as u64;
                    payloads.push(p);
                }
            }
            Err(e) => {
                corrupt += header.samples as u64;
                log::error!(error:% = e; "Damaged WAL record skipped.");
            }
        }
    }
    if corrupt > 0 {
        out.dropped.push((DropReason::Corrupt, corrupt));
    }
    if too_old > 0 {
        out.dropped.push((DropReason::TooOld, too_old));
    }
    payloads.retain(|p| !p.is_empty());
    if payloads.is_empty() {
        return out;
    }
    let slices: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
    if samples <= batch_size {
        out.bodies
            .push((remote_write::body_from_payloads(&slices), samples));
        return out;
    }
    // More than batch_size samples: only a record bigger than batch_size
    // (a batch holds more than one record only while they fit).
    let mut piece: Vec<&[u8]> = Vec::new();
    let mut n = 0u64;
    for entry in slices
        .iter()
        .flat_map(|p| wal::record::series_entries(p).unwrap_or_default())
    {
        let k = entry_samples(entry).unwrap_or_else(|| count_samples(&[entry]));
        if n > 0 && n + k > batch_size {
            out.bodies
                .push((remote_write::body_from_payloads(&piece), n));
            piece.clear();
            n = 0;
        }
        piece.push(entry);
        n += k;
    }
    if !piece.is_empty() {
        out.bodies
            .push((remote_write::body_from_payloads(&piece), n));
    }
    out
}

/// A batch whose records all go whole (none damaged or partly older than
/// `cutoff_ms`, `batch_size` not passed) as one body of their stored
/// payloads, joined by [`remote_write::body_from_compressed`]: a copy of
/// the bytes, where decompressing and compressing them again cost the
/// drain most of its CPU. A single record is sent exactly as stored.
/// `None` when the batch has to take the long way.
fn prepare_stored(
    records: &[sled::IVec],
    cutoff_ms: Option<i64>,
    batch_size: u64,
) -> Option<Prepared> {
    let mut parts = Vec::with_capacity(records.len());
    let mut samples = 0u64;
    let mut too_old = 0u64;
    for r in records {
        let h = wal::record::header(r).ok()?;
        if cutoff_ms.is_some_and(|c| h.max_ts_ms < c) {
            too_old += h.samples as u64;
            continue;
        }
        if cutoff_ms.is_some_and(|c| h.min_ts_ms < c) {
            return None;
        }
        parts.push(wal::record::compressed_payload(r).ok()?);
        samples += h.samples as u64;
    }
    if samples > batch_size {
        return None;
    }
    let mut out = Prepared::default();
    if !parts.is_empty() {
        out.bodies
            .push((remote_write::body_from_compressed(&parts)?, samples));
    }
    if too_old > 0 {
        out.dropped.push((DropReason::TooOld, too_old));
    }
    Some(out)
}

/// Posts a prepared batch (blocking), body after body.
fn send_prepared(client: &Client, prepared: &Prepared) -> Result<Delivered, Keep> {
    let mut out = Delivered {
        dropped: prepared.dropped.clone(),
        classify_out_of_order: prepared.classify_out_of_order,
        ..Delivered::default()
    };
    for (body, samples) in &prepared.bodies {
        send_body(client, body, *samples, &mut out)?;
    }
    Ok(out)
}

/// Posts the records (blocking): [`prepare`] then [`send_prepared`].
#[cfg(test)]
fn deliver(
    client: &Client,
    records: &[sled::IVec],
    max_age: Option<Duration>,
    batch_size: u64,
) -> Result<Delivered, Keep> {
    send_prepared(client, &prepare(records, max_age, batch_size))
}

/// Keeps the samples of `payload` stamped at or after `cutoff_ms`; returns
/// the new payload and the samples kept and removed.
fn drop_older_than(payload: &[u8], cutoff_ms: i64) -> (Vec<u8>, u64, u64) {
    use prost::Message as _;
    let Ok(mut req) = proto::WriteRequest::decode(payload) else {
        return (payload.to_vec(), 0, 0);
    };
    let mut removed = 0u64;
    let mut kept = 0u64;
    for ts in &mut req.timeseries {
        let before = ts.samples.len();
        ts.samples.retain(|s| s.timestamp >= cutoff_ms);
        removed += (before - ts.samples.len()) as u64;
        kept += ts.samples.len() as u64;
    }
    req.timeseries.retain(|ts| !ts.samples.is_empty());
    (req.encode_to_vec(), kept, removed)
}

/// Posts one compressed body of `samples` samples. A 413 or 400/422
/// decompresses it (only then) and splits it in halves at series
/// boundaries, down to one series; what a backend refuses even then is
/// dropped and counted.
fn send_body(client: &Client, body: &[u8], samples: u64, out: &mut Delivered) -> Result<(), Keep> {
    let Some((reason, resp)) = post_once(client, body, samples, out)? else {
        return Ok(());
    };
    let raw = match snap::raw::Decoder::new().decompress_vec(body) {
        Ok(raw) => raw,
        Err(e) => {
            // Past its CRC check this does not happen; if it does, the
            // backend could not read it either.
            log::error!(error:% = e; "A refused request body does not decompress; dropped.");
            out.dropped.push((reason, samples));
            out.rejected_requests += 1;
            return Ok(());
        }
    };
    let entries = wal::record::series_entries(&raw).unwrap_or_default();
    split(client, entries, samples, reason, resp, out)
}

/// Sends one body made of uncompressed `payloads` holding `samples`
/// samples, splitting it as [`send_body`] does.
fn send(
    client: &Client,
    payloads: &[&[u8]],
    samples: u64,
    out: &mut Delivered,
) -> Result<(), Keep> {
    let body = remote_write::body_from_payloads(payloads);
    let Some((reason, resp)) = post_once(client, &body, samples, out)? else {
        return Ok(());
    };
    let entries: Vec<&[u8]> = payloads
        .iter()
        .flat_map(|p| wal::record::series_entries(p).unwrap_or_default())
        .collect();
    split(client, entries, samples, reason, resp, out)
}

/// Posts `body`. `Ok(None)` when it is stored (or dropped unsent as the
/// rest of a refused batch that used up its requests); `Ok(Some(..))`
/// when refused as invalid (400/422) or too large (413).
fn post_once(
    client: &Client,
    body: &[u8],
    samples: u64,
    out: &mut Delivered,
) -> Result<Option<(DropReason, remote_write::Response)>, Keep> {
    if out.split_spent {
        // Rest of a refused batch that used up its requests.
        let reason = if out.out_of_order {
            DropReason::OutOfOrder
        } else {
            DropReason::Rejected
        };
        out.dropped.push((reason, samples));
        return Ok(None);
    }
    if out.posts > 0 && out.requests == 0 {
        // Every request of this batch so far was refused.
        std::thread::sleep(REFUSED_SPLIT_PAUSE);
    }
    out.posts += 1;
    let resp = client.post(body).map_err(|e| {
        if matches!(e, ShipError::Connect { .. } | ShipError::Dns { .. }) {
            Keep::Unreachable(e)
        } else {
            Keep::Transport(e)
        }
    })?;
    let verdict = remote_write::classify_answer(resp.status, &resp.body);
    match verdict {
        Verdict::Delivered => {
            out.requests += 1;
            out.samples += samples;
            Ok(None)
        }
        Verdict::Rejected
            if out.classify_out_of_order && remote_write::is_out_of_order(&resp.body) =>
        {
            out.out_of_order = true;
            Ok(Some((DropReason::OutOfOrder, resp)))
        }
        Verdict::Rejected => Ok(Some((DropReason::Rejected, resp))),
        Verdict::TooLarge => Ok(Some((DropReason::TooLarge, resp))),
        verdict => Err(Keep::Status {
            verdict,
            answer: resp,
        }),
    }
}

/// The refused body of `entries` split in halves, each sent again.
fn split(
    client: &Client,
    entries: Vec<&[u8]>,
    samples: u64,
    reason: DropReason,
    resp: remote_write::Response,
    out: &mut Delivered,
) -> Result<(), Keep> {
    // One series, or a refused batch of which the backend took nothing in
    // its share of requests (a backend that refuses everything would
    // otherwise get two requests per series): what is left of it is
    // dropped, as DESIGN drops a refused batch. While pieces are taken
    // (old samples among fresh ones) the split goes on, so only refused
    // samples are lost; a 413 split goes on too.
    out.split_spent |=
        reason == DropReason::Rejected && out.posts >= MAX_POSTS_PER_BATCH && out.requests == 0;
    out.split_spent |= reason == DropReason::OutOfOrder
        && out.posts >= MAX_POSTS_OUT_OF_ORDER
        && out.requests == 0;
    if entries.len() <= 1 || out.split_spent {
        out.dropped.push((reason, samples));
        out.rejected_requests += 1;
        if out.rejection.is_none() {
            out.rejection = Some((resp.status, resp.body));
        }
        return Ok(());
    }
    let (a, b) = entries.split_at(entries.len() / 2);
    let na = count_samples(a);
    send(client, a, na, out)?;
    send(client, b, samples.saturating_sub(na), out)
}

/// Samples of one `0x0a <len> <TimeSeries>` entry, counted from the wire
/// format (the `samples` fields, number 2) without decoding it; `None`
/// when the framing is not as expected.
fn entry_samples(entry: &[u8]) -> Option<u64> {
    use prost::encoding::decode_varint;
    let mut buf = entry.strip_prefix(&[proto::TIMESERIES_TAG])?;
    let len = decode_varint(&mut buf).ok()? as usize;
    let mut ts = buf.get(..len)?;
    let mut n = 0;
    while !ts.is_empty() {
        let key = decode_varint(&mut ts).ok()?;
        // TimeSeries has only length-delimited fields (labels, samples).
        if key & 7 != 2 {
            return None;
        }
        let field_len = decode_varint(&mut ts).ok()? as usize;
        ts = ts.get(field_len..)?;
        n += u64::from(key >> 3 == 2);
    }
    Some(n)
}

/// Samples in length-delimited `TimeSeries` entries (only on the 413
/// path). Each entry on its own is a valid `WriteRequest`.
fn count_samples(entries: &[&[u8]]) -> u64 {
    use prost::Message as _;
    entries
        .iter()
        .filter_map(|e| proto::WriteRequest::decode(*e).ok())
        .flat_map(|w| w.timeseries)
        .map(|ts| ts.samples.len() as u64)
        .sum()
}

/// `sentinel check`: sends an empty remote-write request (no series, so
/// nothing is stored) and explains the answer in one line. When that is
/// accepted, a second request whose body is not snappy must be refused:
/// an endpoint that takes anything (InfluxDB's `/write` and
/// `/api/v2/write` on VictoriaMetrics answer 204) would lose every sample.
pub fn check_backend(backend: &BackendConfig) -> Result<String, String> {
    let client = Client::new(backend).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let body = remote_write::body_from_payloads(&[]);
    let resp = client.post(&body).map_err(|e| e.to_string())?;
    let ms = started.elapsed().as_millis();
    match remote_write::classify_answer(resp.status, &resp.body) {
        Verdict::Delivered => {
            // A server that drops the connection on it refused it too.
            let junk = client.post(b"\xff sentinel check: not snappy, not protobuf");
            if let Some(junk) = junk
                .ok()
                .filter(|j| remote_write::classify(j.status) == Verdict::Delivered)
            {
                return Err(format!(
                    "HTTP {}: {} accepted a request that is not remote write, so it is not a \
                     remote-write receiver and would lose every sample (an InfluxDB endpoint \
                     such as /write or /api/v2/write?); the path is /api/v1/write for \
                     Prometheus and single-node VictoriaMetrics",
                    junk.status,
                    remote_write::mask_url(&backend.url)
                ));
            }
            Ok(format!(
                "accepted a remote-write request (HTTP {}) in {ms} ms",
                resp.status
            ))
        }
        // An empty request is valid; a 400 here means the URL points at
        // something that is not a remote-write receiver.
        verdict => Err(remote_write::explain(verdict, &resp, &backend.url)),
    }
}

/// `host:port` of a URL, for the reachability check.
fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let has_port = if authority.starts_with('[') {
        authority.contains("]:")
    } else {
        authority.contains(':')
    };
    if has_port {
        Some(authority.to_string())
    } else {
        let port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        Some(format!("{authority}:{port}"))
    }
}

/// Whether a TCP connection to `addr` can be opened now.
fn reachable(addr: &str) -> bool {
    let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return false,
    };
    addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, REACH_CHECK_TIMEOUT).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Labels, Sample};
    use crate::testutil::http_server::{HttpServer, Reply};
    use prost::Message as _;
    use std::sync::{Arc, Mutex};

    /// The shared test HTTP server answering 400 to any request holding
    /// a sample whose value is in `bad`, 413 to any holding more than
    /// `max_series` series, 204 otherwise; it records the good samples it
    /// took. Real servers do not give such answers on demand, hence the
    /// mock.
    fn mock(bad: Vec<f64>, max_series: usize) -> (HttpServer, Arc<Mutex<Vec<f64>>>) {
        let (server, stored, _) = mock_bodies(bad, max_series);
        (server, stored)
    }

    /// [`mock`], also keeping every request body it received.
    #[allow(clippy::type_complexity)]
    fn mock_bodies(
        bad: Vec<f64>,
        max_series: usize,
    ) -> (HttpServer, Arc<Mutex<Vec<f64>>>, Arc<Mutex<Vec<Vec<u8>>>>) {
        let stored = Arc::new(Mutex::new(Vec::new()));
        let st = stored.clone();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let bs = bodies.clone();
        let server = HttpServer::start(move |req| {
            bs.lock().unwrap().push(req.body.clone());
            let raw = snap::raw::Decoder::new().decompress_vec(&req.body).unwrap();
            let req = proto::WriteRequest::decode(raw.as_slice()).unwrap();
            let values: Vec<f64> = req
                .timeseries
                .iter()
                .flat_map(|t| t.samples.iter().map(|s| s.value))
                .collect();
            if req.timeseries.len() > max_series {
                Reply::new(413).body("bad")
            } else if values.iter().any(|v| bad.contains(v)) {
                Reply::new(400).body("bad")
            } else {
                st.lock().unwrap().extend(values);
                Reply::new(204)
            }
        });
        (server, stored, bodies)
    }

    /// One record (one probe run) of `n` series, values 1..=n.
    fn one_record(n: u32, now: i64) -> sled::IVec {
        let samples: Vec<Sample> = (1..=n)
            .map(|v| Sample::new("m", Labels::new().with("v", v.to_string()), v as f64, now))
            .collect();
        sled::IVec::from(wal::record::encode(&samples))
    }

    /// Series in a request body as posted.
    fn series_in(body: &[u8]) -> usize {
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        proto::WriteRequest::decode(raw.as_slice())
            .unwrap()
            .timeseries
            .len()
    }

    /// `record` stored with its payload as a snappy block of literals only
    /// (valid, but not what the encoder makes), so a body compressed
    /// again from the payload differs from the stored bytes.
    fn literal_snappy(record: &[u8]) -> sled::IVec {
        let raw = wal::record::payload(record).unwrap();
        let mut block = Vec::new();
        let mut n = raw.len();
        while n >= 0x80 {
            block.push((n as u8) | 0x80);
            n >>= 7;
        }
        block.push(n as u8);
        for chunk in raw.chunks(65_536) {
            block.push(61 << 2);
            block.extend_from_slice(&((chunk.len() - 1) as u16).to_le_bytes());
            block.extend_from_slice(chunk);
        }
        let mut out = record[..25].to_vec();
        out.extend_from_slice(&wal::record::crc32(&block).to_le_bytes());
        out.extend_from_slice(&block);
        assert_eq!(wal::record::payload(&out).unwrap(), raw);
        sled::IVec::from(out)
    }

    #[test]
    fn a_batch_of_one_record_is_posted_as_stored() {
        let (server, stored, bodies) = mock_bodies(vec![], usize::MAX);
        let url = server.url("/api/v1/write");
        let record = literal_snappy(&one_record(20, 1_000));
        let done = deliver(&client(&url), std::slice::from_ref(&record), None, 1000).unwrap();
        assert_eq!(done.samples, 20);
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 1);
        assert_eq!(
            bodies[0],
            record[wal::record::HEADER_LEN..],
            "the body is the record's stored payload, not compressed again"
        );
        assert_eq!(stored.lock().unwrap().len(), 20);
    }

    #[test]
    fn a_batch_of_several_records_is_their_stored_blocks_joined() {
        let (server, stored, bodies) = mock_bodies(vec![], usize::MAX);
        let url = server.url("/api/v1/write");
        let records: Vec<sled::IVec> = [5, 7, 3]
            .into_iter()
            .map(|n| literal_snappy(&one_record(n, 1_000)))
            .collect();
        let done = deliver(&client(&url), &records, None, 1000).unwrap();
        assert_eq!(done.samples, 15);
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 1, "one request for the three records");
        // Literal-only blocks joined stay literal-only: each record's
        // element stream is in the body as stored (compressing again would
        // have made copies of the repeated labels).
        for r in &records {
            let stored_block = &r[wal::record::HEADER_LEN..];
            let elements = &stored_block[1 + usize::from(stored_block[0] >= 0x80)..];
            assert!(
                bodies[0].windows(elements.len()).any(|w| w == elements),
                "a record's elements are in the body as stored"
            );
        }
        let mut got = stored.lock().unwrap().clone();
        got.sort_by(f64::total_cmp);
        let mut want: Vec<f64> = [5, 7, 3]
            .into_iter()
            .flat_map(|n| (1..=n).map(f64::from))
            .collect();
        want.sort_by(f64::total_cmp);
        assert_eq!(got, want);
        // Over batch_size, or with a damaged record, they take the long way
        // (cut, or decompressed and counted) and still arrive.
        drop(bodies);
        let (server, stored, bodies) = mock_bodies(vec![], usize::MAX);
        let url = server.url("/api/v1/write");
        let mut damaged = records[1].to_vec();
        let last = damaged.len() - 1;
        damaged[last] ^= 0xff;
        let batch = [
            records[0].clone(),
            sled::IVec::from(damaged),
            records[2].clone(),
        ];
        let done = deliver(&client(&url), &batch, None, 1000).unwrap();
        assert_eq!(done.samples, 8);
        assert_eq!(done.dropped, vec![(DropReason::Corrupt, 7)]);
        assert_eq!(stored.lock().unwrap().len(), 8);
        let done = deliver(&client(&url), &records, None, 6).unwrap();
        assert_eq!(done.samples, 15);
        assert!(bodies.lock().unwrap().len() >= 3);
    }

    #[test]
    fn a_record_posted_as_stored_is_still_split_on_413_and_400() {
        // 413 above 3 series: the stored body is refused, then split.
        let (server, stored, bodies) = mock_bodies(vec![], 3);
        let url = server.url("/api/v1/write");
        let record = one_record(10, 1_000);
        let done = deliver(&client(&url), std::slice::from_ref(&record), None, 1000).unwrap();
        assert_eq!(bodies.lock().unwrap()[0], record[wal::record::HEADER_LEN..]);
        let mut got = stored.lock().unwrap().clone();
        got.sort_by(f64::total_cmp);
        assert_eq!(got, (1..=10).map(f64::from).collect::<Vec<_>>());
        assert_eq!(done.samples, 10);
        assert!(done.dropped.is_empty(), "{:?}", done.dropped);
        // 400 for the series holding 7: only that one is dropped.
        let (server, stored, _) = mock_bodies(vec![7.0], usize::MAX);
        let url = server.url("/api/v1/write");
        let done = deliver(&client(&url), &[record], None, 1000).unwrap();
        assert_eq!(stored.lock().unwrap().len(), 9);
        assert_eq!(done.samples, 9);
        assert_eq!(done.dropped, vec![(DropReason::Rejected, 1)]);
    }

    #[test]
    fn entry_samples_counts_without_decoding() {
        let now = 1_000;
        let samples: Vec<Sample> = (0..5)
            .map(|t| Sample::new("m", Labels::new().with("a", "b"), t as f64, now + t))
            .chain([Sample::new("n", Labels::new(), 1.0, now)])
            .collect();
        let record = wal::record::encode(&samples);
        let raw = wal::record::payload(&record).unwrap();
        let entries = wal::record::series_entries(&raw).unwrap();
        let counts: Vec<Option<u64>> = entries.iter().map(|e| entry_samples(e)).collect();
        assert_eq!(counts, vec![Some(5), Some(1)]);
        assert_eq!(entry_samples(&entries[0][..entries[0].len() - 1]), None);
    }

    #[test]
    fn batch_size_bounds_the_samples_of_each_request() {
        let (server, stored, bodies) = mock_bodies(vec![], usize::MAX);
        let url = server.url("/api/v1/write");
        let record = one_record(10, 1_000);
        let done = deliver(&client(&url), &[record], None, 3).unwrap();
        let sizes: Vec<usize> = bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| series_in(b))
            .collect();
        assert_eq!(sizes, vec![3, 3, 3, 1], "one sample per series here");
        assert_eq!(done.samples, 10);
        assert_eq!(done.requests, 4);
        assert_eq!(stored.lock().unwrap().len(), 10);
    }

    fn records(values: &[f64], now: i64) -> Vec<sled::IVec> {
        values
            .iter()
            .map(|v| {
                let s = Sample::new("m", Labels::new().with("v", v.to_string()), *v, now);
                sled::IVec::from(wal::record::encode(&[s]))
            })
            .collect()
    }

    fn client(url: &str) -> Client {
        let mut backend = remote_write::tests::backend(url);
        backend.id = BackendId("mock".into());
        Client::new(&backend).unwrap()
    }

    #[test]
    fn a_rejected_batch_loses_only_the_refused_samples() {
        let (server, stored) = mock(vec![13.0, 29.0], usize::MAX);
        let url = server.url("/api/v1/write");
        let values: Vec<f64> = (1..=40).map(f64::from).collect();
        let done = deliver(&client(&url), &records(&values, 1_000), None, u64::MAX).unwrap();
        let mut got = stored.lock().unwrap().clone();
        got.sort_by(f64::total_cmp);
        let want: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| *v != 13.0 && *v != 29.0)
            .collect();
        assert_eq!(got, want);
        assert_eq!(done.samples, 38);
        assert_eq!(
            done.dropped,
            vec![(DropReason::Rejected, 1), (DropReason::Rejected, 1)]
        );
    }

    #[test]
    fn many_refused_series_among_good_ones_still_lose_only_themselves() {
        let values: Vec<f64> = (1..=80).map(f64::from).collect();
        let bad: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| *v as u32 % 2 == 0)
            .collect();
        let (server, stored) = mock(bad.clone(), usize::MAX);
        let url = server.url("/api/v1/write");
        let done = deliver(&client(&url), &records(&values, 1_000), None, u64::MAX).unwrap();
        assert_eq!(stored.lock().unwrap().len(), 40, "every good sample stored");
        let dropped: u64 = done.dropped.iter().map(|(_, n)| n).sum();
        assert_eq!(dropped, 40);
        assert!(done.posts > MAX_POSTS_PER_BATCH, "{}", done.posts);
    }

    #[test]
    fn a_backend_refusing_everything_costs_a_bounded_number_of_requests() {
        let values: Vec<f64> = (1..=500).map(f64::from).collect();
        let (server, stored) = mock(values.clone(), usize::MAX);
        let url = server.url("/api/v1/write");
        let done = deliver(&client(&url), &records(&values, 1_000), None, u64::MAX).unwrap();
        assert!(stored.lock().unwrap().is_empty());
        assert_eq!(done.samples, 0);
        let dropped: u64 = done.dropped.iter().map(|(_, n)| n).sum();
        assert_eq!(dropped, 500, "every sample is counted as dropped");
        assert!(
            done.posts <= MAX_POSTS_PER_BATCH + 1,
            "{} requests for one refused batch",
            done.posts
        );
    }

    #[test]
    fn too_large_batches_are_split() {
        let (server, stored) = mock(vec![], 3);
        let url = server.url("/api/v1/write");
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let done = deliver(&client(&url), &records(&values, 1_000), None, u64::MAX).unwrap();
        assert_eq!(stored.lock().unwrap().len(), 10);
        assert_eq!(done.samples, 10);
        assert!(done.dropped.is_empty());
        assert!(done.requests >= 4, "{}", done.requests);
    }

    #[test]
    fn samples_past_max_sample_age_are_skipped_and_counted() {
        let (server, stored) = mock(vec![], usize::MAX);
        let url = server.url("/api/v1/write");
        let now = crate::sample::now_ms();
        let mut recs = records(&[1.0, 2.0], now - 3_600_000);
        recs.extend(records(&[3.0], now));
        let done = deliver(
            &client(&url),
            &recs,
            Some(Duration::from_secs(600)),
            u64::MAX,
        )
        .unwrap();
        assert_eq!(*stored.lock().unwrap(), vec![3.0]);
        assert_eq!(done.dropped, vec![(DropReason::TooOld, 2)]);
    }

    /// What the concurrent mock saw.
    #[derive(Default)]
    struct Seen {
        /// Requests being answered now, and the most at once.
        now: usize,
        max: usize,
        requests: usize,
        /// Values of the samples stored (204), in arrival order.
        values: Vec<f64>,
    }

    /// The shared test HTTP server (a thread per connection) answering
    /// after `delay(values of the request)`, with 503 when `fail(n, values)` for
    /// the n-th request (from 1), else 204. Real servers do not fail or
    /// stall one given request.
    fn concurrent_mock(
        delay: fn(&[f64]) -> Duration,
        fail: fn(usize, &[f64]) -> bool,
    ) -> (HttpServer, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        let server = HttpServer::start(move |req| {
            let n = {
                let mut s = s.lock().unwrap();
                s.now += 1;
                s.max = s.max.max(s.now);
                s.requests += 1;
                s.requests
            };
            let raw = snap::raw::Decoder::new().decompress_vec(&req.body).unwrap();
            let req = proto::WriteRequest::decode(raw.as_slice()).unwrap();
            let values: Vec<f64> = req
                .timeseries
                .iter()
                .flat_map(|t| t.samples.iter().map(|x| x.value))
                .collect();
            std::thread::sleep(delay(&values));
            let status = if fail(n, &values) {
                503
            } else {
                s.lock().unwrap().values.extend(values);
                204
            };
            s.lock().unwrap().now -= 1;
            Reply::new(status)
        });
        (server, seen)
    }

    /// Appends `runs` records of one sample each (values 0..runs) to a
    /// fresh WAL, starts a shipper to `url` with `concurrency` and
    /// `batch_size` 1 (a batch per record), and calls `watch` with the
    /// backlog every 20 ms until it is empty (or 30 s pass); returns the
    /// backlog at the end.
    fn drain(url: &str, concurrency: usize, runs: usize, watch: impl FnMut(u64) + 'static) -> u64 {
        drain_counted(url, concurrency, runs, 64 << 20, watch).0
    }

    /// [`drain`] with `buffer.max_size`; also returns the shipper's
    /// telemetry (what it counted as sent and dropped).
    fn drain_counted(
        url: &str,
        concurrency: usize,
        runs: usize,
        max_size: u64,
        mut watch: impl FnMut(u64) + 'static,
    ) -> (u64, Arc<Telemetry>) {
        use crate::wal::{Append, GetStats, SetBackends};
        let dir = tempfile::tempdir().unwrap();
        let buffer = crate::config::BufferConfig {
            path: dir.path().join("wal"),
            max_size,
            max_age: Duration::from_secs(3600),
            sync: crate::config::SyncMode::Interval,
            sync_interval: Duration::from_secs(1),
            cache_size: 1 << 20,
        };
        let mut backend = remote_write::tests::backend(url);
        backend.concurrency = concurrency;
        let sender = crate::config::SenderConfig {
            flush_interval: Duration::from_millis(200),
            batch_size: 1,
            timeout: Duration::from_secs(10),
            retry: crate::config::RetryConfig {
                min_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(200),
            },
            backends: vec![backend.clone()],
        };
        let telemetry = Arc::new(Telemetry::new());
        let counted = telemetry.clone();
        let pending = actix::System::new().block_on(async move {
            let store = crate::wal::open_or_recover(&buffer).unwrap();
            let wal = Wal::new(store, &buffer, telemetry.clone()).start();
            wal.send(SetBackends {
                backends: vec![backend.id.clone()],
            })
            .await
            .unwrap()
            .unwrap();
            let now = crate::sample::now_ms();
            for v in 0..runs {
                let s = Sample::new("m", Labels::new(), v as f64, now + v as i64);
                wal.send(Append {
                    task_id: crate::sample::TaskId("t".into()),
                    samples: vec![s],
                })
                .await
                .unwrap()
                .unwrap();
            }
            let shipper = Shipper::new(&backend, &sender, wal.clone(), telemetry)
                .unwrap()
                .start();
            let deadline = Instant::now() + Duration::from_secs(30);
            let pending = loop {
                let stats = wal.send(GetStats).await.unwrap().unwrap();
                let pending = stats.backends[backend.id.as_str()].pending_samples;
                watch(pending);
                if pending == 0 || Instant::now() > deadline {
                    break pending;
                }
                actix_rt::time::sleep(Duration::from_millis(20)).await;
            };
            shipper
                .send(Drain {
                    deadline: Instant::now() + Duration::from_secs(2),
                    last_attempt: false,
                })
                .await
                .unwrap();
            pending
        });
        (pending, counted)
    }

    #[test]
    fn concurrency_bounds_the_requests_in_flight_and_all_arrive_once() {
        let (server, seen) = concurrent_mock(|_| Duration::from_millis(100), |_, _| false);
        let url = server.url("/api/v1/write");
        assert_eq!(drain(&url, 3, 24, |_| {}), 0);
        let seen = seen.lock().unwrap();
        assert!(
            (2..=3).contains(&seen.max),
            "{} requests were in flight at once, with concurrency 3",
            seen.max
        );
        let mut values = seen.values.clone();
        values.sort_by(f64::total_cmp);
        assert_eq!(values, (0..24).map(f64::from).collect::<Vec<_>>());
        // Default 1: never two at once, and in order.
        let (server, seen) = concurrent_mock(|_| Duration::from_millis(20), |_, _| false);
        let url = server.url("/api/v1/write");
        assert_eq!(drain(&url, 1, 8, |_| {}), 0);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.max, 1);
        assert_eq!(seen.values, (0..8).map(f64::from).collect::<Vec<_>>());
    }

    #[test]
    fn the_cursor_waits_for_an_earlier_batch_still_in_flight() {
        // The first batch (value 0) takes 1.5 s; the next ones are done
        // at once.
        let (server, seen) = concurrent_mock(
            |values| Duration::from_millis(if values.contains(&0.0) { 1500 } else { 10 }),
            |_, _| false,
        );
        let url = server.url("/api/v1/write");
        let seen2 = seen.clone();
        let held = Arc::new(std::sync::Mutex::new(false));
        let h = held.clone();
        let pending = drain(&url, 4, 8, move |pending| {
            let seen = seen2.lock().unwrap();
            let stored = seen.values.len() as u64;
            assert!(
                8 - pending <= stored,
                "the cursor passed a batch not yet stored: {pending} pending, {stored} stored"
            );
            if !seen.values.contains(&0.0) {
                // The first batch (value 0) is still in flight.
                assert_eq!(pending, 8, "acknowledged past the batch in flight");
                if stored >= 3 {
                    *h.lock().unwrap() = true;
                }
            }
        });
        assert_eq!(pending, 0);
        assert!(
            *held.lock().unwrap(),
            "later batches should be stored while the first is in flight"
        );
    }

    #[test]
    fn a_failed_batch_in_the_window_is_retried_and_nothing_is_lost() {
        // The second request gets a 503; the others are stored.
        let (server, seen) = concurrent_mock(|_| Duration::from_millis(30), |n, _| n == 2);
        let url = server.url("/api/v1/write");
        assert_eq!(drain(&url, 4, 16, |_| {}), 0);
        let seen = seen.lock().unwrap();
        let distinct: std::collections::BTreeSet<u64> =
            seen.values.iter().map(|v| *v as u64).collect();
        assert_eq!(distinct, (0..16).collect(), "every sample stored");
        assert!(seen.requests > 16, "the failed batch was sent again");
    }

    #[test]
    fn a_cap_never_counts_a_sample_both_dropped_and_delivered() {
        // The first request (value 0) takes 2.5 s and is stored; the
        // one of value 1 fails at once (its retry is stored). The WAL's sweep (every second) runs while
        // the first is in flight, with a cap that keeps no record: it may
        // drop what no request carries, never the batch in flight.
        let (server, seen) = concurrent_mock(
            |values| Duration::from_millis(if values.contains(&0.0) { 2500 } else { 30 }),
            |n, values| n <= 4 && values.contains(&1.0),
        );
        let url = server.url("/api/v1/write");
        let runs = 8;
        let (pending, telemetry) = drain_counted(&url, 4, runs, 1, |_| {});
        assert_eq!(pending, 0);
        let backend = remote_write::tests::backend(&url);
        let labels = Labels::new().with("backend", backend.id.as_str());
        let sent = telemetry.get("sentinel_samples_sent_total", &labels);
        let dropped: f64 = DropReason::ALL
            .iter()
            .map(|r| {
                telemetry.get(
                    "sentinel_samples_dropped_total",
                    &labels.clone().with("reason", r.as_str()),
                )
            })
            .sum();
        assert!(
            seen.lock().unwrap().values.contains(&0.0),
            "the slow first batch was stored"
        );
        assert!(
            dropped > 0.0,
            "the cap dropped nothing: the test tests nothing"
        );
        assert_eq!(
            sent + dropped,
            runs as f64,
            "each sample counted once: {sent} sent, {dropped} dropped"
        );
    }

    /// `sentinel check` on a redirect says where it points, and on an
    /// empty body quotes nothing.
    #[test]
    fn check_explains_a_redirect() {
        use remote_write::tests::{backend, mock, seen};
        let (url, server) = mock(Reply::new(302).header("Location", "/vm/api/v1/write"));
        let err = check_backend(&backend(&url)).unwrap_err();
        seen(&server);
        assert!(
            err.starts_with(&format!("HTTP 302: {url} redirected to /vm/api/v1/write; ")),
            "{err}"
        );
        assert!(!err.contains("the server said"), "{err}");
    }

    #[test]
    fn host_port_of_urls() {
        assert_eq!(
            host_port("http://127.0.0.1:8428/api/v1/write").as_deref(),
            Some("127.0.0.1:8428")
        );
        assert_eq!(
            host_port("https://user:pw@example.org/x").as_deref(),
            Some("example.org:443")
        );
        assert_eq!(
            host_port("http://[::1]:9090/api").as_deref(),
            Some("[::1]:9090")
        );
        assert_eq!(host_port("http://[::1]/api").as_deref(), Some("[::1]:80"));
        assert_eq!(host_port("nonsense"), None);
    }
}
