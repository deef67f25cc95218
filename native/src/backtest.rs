//! The backtest's replay loop: `slawatch.sla.backtest.Backtest` delegates to it.
//!
//! Event time drives the clock exactly as the Python loop did (which the docs describe):
//! before an event is applied every ticket's thresholds strictly before its instant
//! fire; retention is judged when the clock moves; alerts wait in a reorder buffer of
//! `reorder_window` seconds and leave in (`fired_at`, emission) order. The heaps break
//! ties the same way Python's tuples did (instant, then ticket id), so the output is
//! the same line for line.
use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::Hash;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::alert::{alert_to_py, write_alert, InstantFormat};
use crate::engine::{Engine, Outcome};
use crate::event::{event_from_py, read_event};
use crate::state::TicketState;
use crate::types::{AlertKind, AlertRec, Metric, Obs, ObsKind, Str};

/// An `f64` with a total order (instants are never NaN here: events' times are parsed
/// and thresholds computed from them).
#[derive(Clone, Copy, Debug, PartialEq)]
struct At(f64);

impl Eq for At {}

impl PartialOrd for At {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for At {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// An alert waiting in the reorder buffer, ordered by (`fired_at`, emission order).
struct Pending {
    fired_at: At,
    seq: u64,
    alert: AlertRec,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.fired_at, self.seq).cmp(&(other.fired_at, other.seq))
    }
}

/// A counter that remembers first-insertion order, as Python's `Counter` does (the
/// summary's dicts are written in that order).
struct OrderedCounter<K: Hash + Eq + Clone, V> {
    index: HashMap<K, usize>,
    items: Vec<(K, V)>,
}

impl<K: Hash + Eq + Clone, V: Copy + Default + std::ops::AddAssign> OrderedCounter<K, V> {
    fn new() -> Self {
        OrderedCounter {
            index: HashMap::new(),
            items: Vec::new(),
        }
    }

    fn add(&mut self, key: K, n: V) {
        match self.index.entry(key) {
            Entry::Occupied(e) => self.items[*e.get()].1 += n,
            Entry::Vacant(e) => {
                let key = e.key().clone();
                e.insert(self.items.len());
                self.items.push((key, n));
            }
        }
    }
}

/// `BacktestSummary`'s counters, kept natively and handed to Python at the end.
struct Summary {
    lines: u64,
    applied: u64,
    duplicates: u64,
    held: u64,
    behind_clock: u64,
    invalid: u64,
    invalid_by_code: OrderedCounter<String, u64>,
    alerts_by_kind: OrderedCounter<AlertKind, u64>,
    tickets_created: u64,
    clocks_stopped: OrderedCounter<(Metric, Str), u64>,
    clocks_late: OrderedCounter<(Metric, Str), u64>,
    breaches: OrderedCounter<(Metric, Str), u64>,
    counts: OrderedCounter<(&'static str, Option<Str>, Option<Str>), u64>,
    score_sums: OrderedCounter<(Option<Str>, Option<Str>), f64>,
}

impl Summary {
    fn new() -> Self {
        Summary {
            lines: 0,
            applied: 0,
            duplicates: 0,
            held: 0,
            behind_clock: 0,
            invalid: 0,
            invalid_by_code: OrderedCounter::new(),
            alerts_by_kind: OrderedCounter::new(),
            tickets_created: 0,
            clocks_stopped: OrderedCounter::new(),
            clocks_late: OrderedCounter::new(),
            breaches: OrderedCounter::new(),
            counts: OrderedCounter::new(),
            score_sums: OrderedCounter::new(),
        }
    }

    /// `BacktestSummary.observe`.
    fn observe(&mut self, obs: &Obs) {
        let dept = obs.dims.department.clone();
        let vendor = obs.dims.vendor.clone();
        self.counts
            .add((obs.kind.name(), dept.clone(), vendor.clone()), 1);
        match obs.kind {
            ObsKind::Created => self.tickets_created += 1,
            ObsKind::Responded | ObsKind::Resolved => {
                let metric = if obs.kind == ObsKind::Responded {
                    Metric::Response
                } else {
                    Metric::Resolution
                };
                let key = (metric, obs.dims.priority.clone());
                self.clocks_stopped.add(key.clone(), 1);
                if obs.ok != Some(true) {
                    self.clocks_late.add(key, 1);
                } else if obs.kind == ObsKind::Resolved {
                    self.counts
                        .add(("on_time", dept.clone(), vendor.clone()), 1);
                }
                if obs.first_contact == Some(true) {
                    self.counts.add(("first_contact", dept, vendor), 1);
                }
            }
            // ok: the ticket's first complaint
            ObsKind::Complaint if obs.ok != Some(true) => {
                self.counts.add(("repeat_complaint", dept, vendor), 1);
            }
            ObsKind::Survey => {
                if let Some(value) = obs.value {
                    self.score_sums.add((dept, vendor), value);
                }
            }
            _ => {}
        }
    }
}

fn opt_str(py: Python<'_>, s: &Option<Str>) -> PyObject {
    match s {
        Some(s) => s.as_ref().into_pyobject(py).unwrap().into_any().unbind(),
        None => py.None(),
    }
}

/// Where alerts go: JSON lines handed to a Python `write(bytes)` in chunks (the CLI), or
/// `Alert` objects handed to a Python callable one by one (the library's `run_backtest`).
enum Sink {
    Lines { write: PyObject, buf: Vec<u8> },
    Objects { sink: PyObject },
}

const CHUNK: usize = 1 << 16;

#[pyclass(unsendable, module = "slawatch._native")]
pub struct NativeBacktest {
    engine: Engine,
    states: HashMap<Str, TicketState>,
    due: BinaryHeap<Reverse<(At, Str)>>,
    scheduled: HashMap<Str, f64>,
    expiry: BinaryHeap<Reverse<(At, Str)>>,
    expiry_last: HashMap<Str, f64>,
    may_expire: HashSet<Str>,
    retain_closed: i64,
    out: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    window: f64,
    clock: Option<f64>,
    summary: Summary,
    sink: Sink,
    fmt: InstantFormat,
    tz: PyObject,
    parse_event: PyObject,
    invalid_event: PyObject,
    outcome: Outcome,
    fired: Vec<AlertRec>,
}

impl NativeBacktest {
    fn emit(&mut self, py: Python<'_>, alerts: &mut Vec<AlertRec>) -> PyResult<()> {
        for a in alerts.drain(..) {
            self.seq += 1;
            self.summary.alerts_by_kind.add(a.kind, 1);
            if a.kind == AlertKind::Breached {
                self.summary.breaches.add((a.metric, a.priority.clone()), 1);
            }
            self.out.push(Reverse(Pending {
                fired_at: At(a.fired_at),
                seq: self.seq,
                alert: a,
            }));
        }
        let _ = py;
        Ok(())
    }

    fn flush(&mut self, py: Python<'_>, before: Option<f64>) -> PyResult<()> {
        while let Some(Reverse(top)) = self.out.peek() {
            if let Some(b) = before {
                if top.fired_at.0 >= b {
                    break;
                }
            }
            let Reverse(p) = self.out.pop().unwrap();
            match &mut self.sink {
                Sink::Lines { write, buf } => {
                    write_alert(py, &p.alert, &mut self.fmt, buf)?;
                    if buf.len() >= CHUNK {
                        write.call1(py, (PyBytes::new(py, buf),))?;
                        buf.clear();
                    }
                }
                Sink::Objects { sink } => {
                    let obj = alert_to_py(py, &p.alert, self.tz.bind(py))?;
                    sink.call1(py, (obj,))?;
                }
            }
        }
        Ok(())
    }

    fn write_out(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Sink::Lines { write, buf } = &mut self.sink {
            if !buf.is_empty() {
                write.call1(py, (PyBytes::new(py, buf),))?;
                buf.clear();
            }
        }
        Ok(())
    }

    /// `Backtest._schedule`: the ticket's next due instant, queued when it changed.
    fn schedule(&mut self, py: Python<'_>, tid: &Str) -> PyResult<Option<f64>> {
        let state = self
            .states
            .get_mut(tid)
            .expect("scheduled ticket has a state");
        let due = self.engine.next_due(py, state)?;
        match due {
            None => {
                self.scheduled.remove(tid);
            }
            Some(at) => {
                if self.scheduled.get(tid) != Some(&at) {
                    self.scheduled.insert(tid.clone(), at);
                    self.due.push(Reverse((At(at), tid.clone())));
                }
            }
        }
        Ok(due)
    }

    /// `Backtest._track_retention`.
    fn track_retention(&mut self, tid: &Str, due: Option<f64>) {
        let state = &self.states[tid];
        let reference = if state.created_at.is_none() {
            state.last_at
        } else if due.is_none() {
            match &*state.status {
                "closed" => state.closed_at,
                "resolved" => state.resolved_at,
                _ => None,
            }
        } else {
            None
        };
        match reference {
            Some(r) => {
                self.may_expire.insert(tid.clone());
                let key = r + self.engine.retention_seconds();
                if self.expiry_last.get(tid) != Some(&key) {
                    self.expiry_last.insert(tid.clone(), key);
                    self.expiry.push(Reverse((At(key), tid.clone())));
                }
            }
            None => {
                self.may_expire.remove(tid);
            }
        }
    }

    fn is_due(&self, now: f64, inclusive: bool) -> bool {
        match self.due.peek() {
            Some(Reverse((At(at), _))) => *at < now || (inclusive && *at <= now),
            None => false,
        }
    }

    /// `Backtest._fire_due`.
    fn fire_due(&mut self, py: Python<'_>, now: f64, inclusive: bool) -> PyResult<()> {
        while self.is_due(now, inclusive) {
            let Reverse((At(at), tid)) = self.due.pop().unwrap();
            if self.scheduled.get(&tid) != Some(&at) {
                continue; // stale entry: the ticket was rescheduled
            }
            self.scheduled.remove(&tid);
            let Some(state) = self.states.get_mut(&tid) else {
                continue;
            };
            let mut fired = std::mem::take(&mut self.fired);
            self.engine.advance(py, state, now, inclusive, &mut fired)?;
            if !fired.is_empty() {
                self.emit(py, &mut fired)?;
            }
            self.fired = fired;
            if self.schedule(py, &tid)?.is_none() {
                self.track_retention(&tid, None); // its last threshold fired
            }
        }
        Ok(())
    }

    /// `Backtest._move_clock` and `_expire`.
    fn move_clock(&mut self, py: Python<'_>, now: f64) -> PyResult<()> {
        self.clock = Some(now);
        while self.may_expire.len() as i64 > self.retain_closed {
            let Some(Reverse((At(key), _))) = self.expiry.peek() else {
                break;
            };
            if *key >= now {
                break;
            }
            let Reverse((At(key), tid)) = self.expiry.pop().unwrap(); // the longest closed first
            if self.expiry_last.get(&tid) == Some(&key) {
                self.expiry_last.remove(&tid);
            }
            let expired = match self.states.get_mut(&tid) {
                Some(state) => self.engine.expired(py, state, now)?,
                None => false,
            };
            if expired {
                self.states.remove(&tid);
                self.scheduled.remove(&tid);
                self.may_expire.remove(&tid);
            }
        }
        Ok(())
    }

    fn advance_to(&mut self, py: Python<'_>, now: f64, inclusive: bool) -> PyResult<()> {
        self.fire_due(py, now, inclusive)?;
        if self.clock.is_none_or(|c| now > c) {
            self.move_clock(py, now)?;
        }
        Ok(())
    }

    fn count_invalid(
        &mut self,
        py: Python<'_>,
        exc: &Bound<'_, PyAny>,
        line_no: &Bound<'_, PyAny>,
        on_invalid: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.summary.lines += 1;
        self.summary.invalid += 1;
        let code: String = exc.getattr("code")?.extract()?;
        self.summary.invalid_by_code.add(code, 1);
        if !on_invalid.is_none() {
            on_invalid.call1((line_no, exc))?;
        }
        let _ = py;
        Ok(())
    }

    /// `Backtest.feed` after validation.
    fn apply(&mut self, py: Python<'_>, event: crate::types::Event) -> PyResult<()> {
        self.summary.lines += 1;
        let tid = event.ticket_id.clone();
        if let Some(known) = self.states.get(&tid) {
            if known.seen.iter().any(|s| **s == *event.event_id) {
                // Ignored before the clock moves: a repeat carrying a later time must not
                // fire thresholds that the lines after it may still stop.
                self.summary.duplicates += 1;
                return Ok(());
            }
        }
        let at = event.at;
        if self.is_due(at, false) {
            self.fire_due(py, at, false)?;
        }
        let clock = match self.clock {
            Some(c) if at <= c => c,
            _ => {
                self.move_clock(py, at)?;
                at
            }
        };
        // After the clock moved: retention may have forgotten the ticket.
        let (is_new, prior_last) = match self.states.get(&tid) {
            Some(s) => (false, s.last_at),
            None => (true, None),
        };
        if is_new {
            self.states
                .insert(tid.clone(), TicketState::new(tid.clone()));
        }
        let mut out = std::mem::take(&mut self.outcome);
        out.alerts.clear();
        out.observations.clear();
        out.duplicate = false;
        out.held = false;
        let state = self.states.get_mut(&tid).unwrap();
        let result = self.engine.apply(py, state, event, &mut out);
        if let Err(e) = result {
            self.outcome = out;
            return Err(e);
        }
        if at < clock && prior_last.is_none_or(|last| last < clock) {
            self.summary.behind_clock += 1;
        }
        if out.held {
            self.summary.held += 1;
        } else {
            self.summary.applied += 1;
        }
        for obs in &out.observations {
            self.summary.observe(obs);
        }
        if !out.alerts.is_empty() {
            self.emit(py, &mut out.alerts)?;
        }
        self.outcome = out;
        let next_at = self.schedule(py, &tid)?;
        let created = self.states[&tid].created_at.is_some();
        if next_at.is_none() || !created {
            self.track_retention(&tid, next_at);
        } else {
            self.may_expire.remove(&tid);
        }
        if let Some(Reverse(top)) = self.out.peek() {
            if top.fired_at.0 < clock - self.window {
                self.flush(py, Some(clock - self.window))?;
            }
        }
        Ok(())
    }
}

#[pymethods]
impl NativeBacktest {
    #[new]
    #[pyo3(signature = (policy, *, write=None, sink=None, retention_seconds=30.0 * 86400.0, retain_closed=50_000, reorder_window=3600.0))]
    fn new(
        py: Python<'_>,
        policy: &Bound<'_, PyAny>,
        write: Option<PyObject>,
        sink: Option<PyObject>,
        retention_seconds: f64,
        retain_closed: i64,
        reorder_window: f64,
    ) -> PyResult<Self> {
        let sink = match (write, sink) {
            (Some(write), None) => Sink::Lines {
                write,
                buf: Vec::with_capacity(CHUNK + 4096),
            },
            (None, Some(sink)) => Sink::Objects { sink },
            _ => return Err(PyTypeError::new_err("give exactly one of write= and sink=")),
        };
        let tz = policy.getattr("display_timezone")?;
        let events = py.import("slawatch.sla.events")?;
        let exceptions = py.import("slawatch.exceptions")?;
        Ok(NativeBacktest {
            engine: Engine::new(py, policy, retention_seconds)?,
            states: HashMap::new(),
            due: BinaryHeap::new(),
            scheduled: HashMap::new(),
            expiry: BinaryHeap::new(),
            expiry_last: HashMap::new(),
            may_expire: HashSet::new(),
            retain_closed,
            out: BinaryHeap::new(),
            seq: 0,
            window: reorder_window,
            clock: None,
            summary: Summary::new(),
            sink,
            fmt: InstantFormat::new(py, &tz)?,
            tz: tz.unbind(),
            parse_event: events.getattr("parse_event")?.unbind(),
            invalid_event: exceptions.getattr("InvalidEvent")?.unbind(),
            outcome: Outcome::default(),
            fired: Vec::new(),
        })
    }

    /// One message (a line's bytes, a str or a dict): validated, then applied, counted as
    /// a duplicate or held; an invalid one is counted and handed to `on_invalid`.
    #[pyo3(signature = (raw, line_no=None, on_invalid=None))]
    fn feed(
        &mut self,
        py: Python<'_>,
        raw: &Bound<'_, PyAny>,
        line_no: Option<&Bound<'_, PyAny>>,
        on_invalid: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if let Ok(bytes) = raw.downcast::<PyBytes>() {
            if let Some(event) = read_event(bytes.as_bytes()) {
                return self.apply(py, event);
            }
        }
        match self.parse_event.call1(py, (raw,)) {
            Ok(obj) => {
                let event = event_from_py(py, obj.bind(py))?;
                self.apply(py, event)
            }
            Err(err) if err.is_instance(py, self.invalid_event.bind(py)) => {
                let none = py.None().into_bound(py);
                let exc = err.value(py).clone().into_any();
                self.count_invalid(
                    py,
                    &exc,
                    line_no.unwrap_or(&none),
                    on_invalid.unwrap_or(&none),
                )
            }
            Err(err) => Err(err),
        }
    }

    /// A line that is not a valid event, rejected before `feed` (e.g. a CSV row).
    #[pyo3(signature = (exc, line_no=None, on_invalid=None))]
    fn reject(
        &mut self,
        py: Python<'_>,
        exc: &Bound<'_, PyAny>,
        line_no: Option<&Bound<'_, PyAny>>,
        on_invalid: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let none = py.None().into_bound(py);
        self.count_invalid(
            py,
            exc,
            line_no.unwrap_or(&none),
            on_invalid.unwrap_or(&none),
        )
    }

    /// Fire every ticket's thresholds before `now` (at or before it when inclusive).
    #[pyo3(signature = (now, inclusive=false))]
    fn advance(&mut self, py: Python<'_>, now: f64, inclusive: bool) -> PyResult<()> {
        self.advance_to(py, now, inclusive)
    }

    /// `Backtest.finish` up to the summary: the remaining alerts are written out.
    #[pyo3(signature = (until=None))]
    fn finish(&mut self, py: Python<'_>, until: Option<f64>) -> PyResult<()> {
        if let Some(clock) = self.clock {
            self.advance_to(py, clock, false)?;
        }
        if let Some(until) = until {
            self.advance_to(py, until, true)?;
        }
        self.flush(py, None)?;
        self.write_out(py)
    }

    /// Alerts written so far reach `write` (the CLI calls this before it stops on an error).
    fn flush_output(&mut self, py: Python<'_>) -> PyResult<()> {
        self.write_out(py)
    }

    #[getter]
    fn clock(&self) -> Option<f64> {
        self.clock
    }

    /// The ticket ids whose state is kept (tests).
    #[getter]
    fn states(&self) -> Vec<String> {
        self.states.keys().map(|k| k.to_string()).collect()
    }

    /// The summary's counters, as `BacktestSummary` fields (insertion-ordered pairs for
    /// its counters).
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.summary;
        let d = PyDict::new(py);
        d.set_item("lines", s.lines)?;
        d.set_item("applied", s.applied)?;
        d.set_item("duplicates", s.duplicates)?;
        d.set_item("held", s.held)?;
        d.set_item("behind_clock", s.behind_clock)?;
        d.set_item("invalid", s.invalid)?;
        d.set_item("tickets_created", s.tickets_created)?;
        let pairs = |items: Vec<(PyObject, PyObject)>| -> PyResult<Bound<'py, PyList>> {
            let list = PyList::empty(py);
            for (k, v) in items {
                list.append(PyTuple::new(py, [k, v])?)?;
            }
            Ok(list)
        };
        let num = |n: u64| n.into_pyobject(py).unwrap().into_any().unbind();
        let text = |t: &str| t.into_pyobject(py).unwrap().into_any().unbind();
        let metric_key = |(m, p): &(Metric, Str)| -> PyResult<PyObject> {
            Ok(PyTuple::new(py, [text(m.name()), text(p)])?
                .into_any()
                .unbind())
        };
        d.set_item(
            "invalid_by_code",
            pairs(
                s.invalid_by_code
                    .items
                    .iter()
                    .map(|(k, n)| (text(k), num(*n)))
                    .collect(),
            )?,
        )?;
        d.set_item(
            "alerts_by_kind",
            pairs(
                s.alerts_by_kind
                    .items
                    .iter()
                    .map(|(k, n)| (text(k.name()), num(*n)))
                    .collect(),
            )?,
        )?;
        for (name, counter) in [
            ("clocks_stopped", &s.clocks_stopped),
            ("clocks_late", &s.clocks_late),
            ("breaches", &s.breaches),
        ] {
            let mut items = Vec::new();
            for (k, n) in &counter.items {
                items.push((metric_key(k)?, num(*n)));
            }
            d.set_item(name, pairs(items)?)?;
        }
        let mut counts = Vec::new();
        for ((kind, dept, vendor), n) in &s.counts.items {
            let key = PyTuple::new(py, [text(kind), opt_str(py, dept), opt_str(py, vendor)])?;
            counts.push((key.into_any().unbind(), num(*n)));
        }
        d.set_item("counts", pairs(counts)?)?;
        let mut scores = Vec::new();
        for ((dept, vendor), v) in &s.score_sums.items {
            let key = PyTuple::new(py, [opt_str(py, dept), opt_str(py, vendor)])?;
            scores.push((
                key.into_any().unbind(),
                v.into_pyobject(py)?.into_any().unbind(),
            ));
        }
        d.set_item("score_sums", pairs(scores)?)?;
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeBacktest>()?;
    Ok(())
}
