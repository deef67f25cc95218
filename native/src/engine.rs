//! The SLA engine: sla.md's clocks and signals over a [`TicketState`] (the rules that
//! were `slawatch.sla.engine.SlaEngine`, ported one method to one function, in the same
//! order of calendar calls). Its callers: the backtest loop (`backtest.rs`) with native
//! states, and `NativeEngine` (`py_engine.rs`) with the worker's Python states.
use std::collections::HashMap;
use std::rc::Rc;

use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::calendar::{round6, Calendar};
use crate::state::{
    opt_str_py, Clock, ClockState, Nx, TicketState, BREACH, ESC1, ESC2, REPEAT_COMPLAINT_ESCALATED,
    WARN,
};
use crate::types::{AlertKind, AlertRec, Contact, Event, EventType, Metric, Obs, ObsKind, Str};

const SURVEY_DUE_SECONDS: f64 = 24.0 * 3600.0;
const SURVEY_OVERDUE_SECONDS: f64 = 7.0 * 86400.0;
const VISIT_DUE_WORKING_DAYS: f64 = 5.0;

#[derive(Default, Debug)]
pub struct Outcome {
    pub alerts: Vec<AlertRec>,
    pub observations: Vec<Obs>,
    pub duplicate: bool,
    pub held: bool,
}

impl Outcome {
    pub fn clear(&mut self) {
        self.alerts.clear();
        self.observations.clear();
        self.duplicate = false;
        self.held = false;
    }
}

/// One threshold of a clock: (bit, kind, level, elapsed business seconds).
#[derive(Clone, Copy, Debug)]
struct Thr {
    bit: u32,
    kind: AlertKind,
    level: Option<i64>,
    thr: f64,
}

/// A target: seconds, calendar name, calendar index.
#[derive(Clone, Debug)]
struct Tgt {
    seconds: f64,
    calendar: Str,
    cal: usize,
}

/// (department, level) -> the contact.
type Routes = HashMap<(Option<Str>, i64), Rc<Contact>>;

type TargetKey = (
    Metric,
    Str,
    Option<Str>,
    Option<Str>,
    Option<Str>,
    Option<Str>,
);

pub struct Engine {
    policy: Py<PyAny>,
    pub cals: Vec<Calendar>,
    warn_fraction: f64,
    ladder: Vec<(i64, f64)>,
    complaint: Tgt,
    retention: f64,
    targets: HashMap<TargetKey, Tgt>,
    thresholds: HashMap<(Metric, u64), Rc<[Thr]>>,
    routes: Routes,
}

fn py_opt_str<'py>(py: Python<'py>, v: &Option<Str>) -> Bound<'py, PyAny> {
    opt_str_py(py, v)
}

impl Engine {
    pub fn new(
        py: Python<'_>,
        policy: &Bound<'_, PyAny>,
        retention_seconds: f64,
    ) -> PyResult<Engine> {
        let cals_obj = policy.getattr(intern!(py, "calendars"))?;
        let cals_d = cals_obj.downcast::<PyDict>()?;
        let mut cals = Vec::with_capacity(cals_d.len());
        for (name, cal) in cals_d.iter() {
            let name: String = name.extract()?;
            cals.push(Calendar::from_py(Rc::from(name.as_str()), &cal)?);
        }
        let mut ladder = Vec::new();
        for lv in policy.getattr(intern!(py, "escalation"))?.try_iter()? {
            let lv = lv?;
            ladder.push((
                lv.getattr("level")?.extract()?,
                lv.getattr("at")?.extract()?,
            ));
        }
        let mut engine = Engine {
            policy: policy.clone().unbind(),
            cals,
            warn_fraction: policy.getattr(intern!(py, "warn_fraction"))?.extract()?,
            ladder,
            complaint: Tgt {
                seconds: 0.0,
                calendar: Rc::from(""),
                cal: usize::MAX,
            },
            retention: retention_seconds,
            targets: HashMap::new(),
            thresholds: HashMap::new(),
            routes: HashMap::new(),
        };
        let complaint = policy.getattr(intern!(py, "complaint"))?;
        engine.complaint = engine.tgt_from_py(&complaint)?;
        Ok(engine)
    }

    pub fn retention_seconds(&self) -> f64 {
        self.retention
    }

    pub fn cal_index(&self, name: &str) -> usize {
        self.cals
            .iter()
            .position(|c| &*c.name == name)
            .unwrap_or(usize::MAX)
    }

    fn tgt_from_py(&self, t: &Bound<'_, PyAny>) -> PyResult<Tgt> {
        let py = t.py();
        let seconds: f64 = t.getattr(intern!(py, "seconds"))?.extract()?;
        let calendar: String = t.getattr(intern!(py, "calendar"))?.extract()?;
        let cal = self.cal_index(&calendar);
        Ok(Tgt {
            seconds,
            calendar: Rc::from(calendar.as_str()),
            cal,
        })
    }

    #[inline]
    fn cal(&mut self, i: usize, name: &Str) -> PyResult<&mut Calendar> {
        if i < self.cals.len() {
            Ok(&mut self.cals[i])
        } else {
            Err(PyKeyError::new_err(name.to_string()))
        }
    }

    // ------------------------------------------------------------ thresholds
    fn thresholds(&mut self, metric: Metric, target: f64) -> Rc<[Thr]> {
        let key = (metric, target.to_bits());
        if let Some(t) = self.thresholds.get(&key) {
            return t.clone();
        }
        let mut out = vec![
            Thr {
                bit: WARN,
                kind: AlertKind::Warning,
                level: None,
                thr: round6(self.warn_fraction * target),
            },
            Thr {
                bit: BREACH,
                kind: AlertKind::Breached,
                level: None,
                thr: target,
            },
        ];
        if metric != Metric::Complaint {
            for &(level, at) in &self.ladder {
                out.push(Thr {
                    bit: if level == 1 { ESC1 } else { ESC2 },
                    kind: AlertKind::Escalated,
                    level: Some(level),
                    thr: round6(at * target),
                });
            }
        }
        // stable: warning, breach, level 1, level 2 on ties
        out.sort_by(|a, b| {
            a.thr
                .partial_cmp(&b.thr)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let rc: Rc<[Thr]> = out.into();
        self.thresholds.insert(key, rc.clone());
        rc
    }

    fn target(&mut self, py: Python<'_>, st: &TicketState, metric: Metric) -> PyResult<Tgt> {
        let key: TargetKey = (
            metric,
            st.priority.clone(),
            st.customer_tier.clone(),
            st.category.clone(),
            st.channel.clone(),
            st.department.clone(),
        );
        if let Some(t) = self.targets.get(&key) {
            return Ok(t.clone());
        }
        let kw = PyDict::new(py);
        kw.set_item(
            intern!(py, "customer_tier"),
            py_opt_str(py, &st.customer_tier),
        )?;
        kw.set_item(intern!(py, "category"), py_opt_str(py, &st.category))?;
        kw.set_item(intern!(py, "channel"), py_opt_str(py, &st.channel))?;
        kw.set_item(intern!(py, "department"), py_opt_str(py, &st.department))?;
        let t = self.policy.bind(py).call_method(
            intern!(py, "target_for"),
            (metric.name(), PyString::new(py, &st.priority)),
            Some(&kw),
        )?;
        let tgt = self.tgt_from_py(&t)?;
        self.targets.insert(key, tgt.clone());
        Ok(tgt)
    }

    /// The escalation contact of (department, level) (`Policy.route`, memoised).
    fn route(
        &mut self,
        py: Python<'_>,
        department: &Option<Str>,
        level: i64,
    ) -> PyResult<Rc<Contact>> {
        let key = (department.clone(), level);
        if let Some(c) = self.routes.get(&key) {
            return Ok(c.clone());
        }
        let obj = self
            .policy
            .bind(py)
            .call_method1(intern!(py, "route"), (py_opt_str(py, department), level))?;
        let s = |name: &str| -> PyResult<Option<Str>> {
            let v = obj.getattr(name)?;
            Ok(if v.is_none() {
                None
            } else {
                Some(Rc::from(v.extract::<String>()?.as_str()))
            })
        };
        let c = Rc::new(Contact {
            level: obj.getattr("level")?.extract()?,
            role: s("role")?.unwrap_or_else(|| Rc::from("")),
            name: s("name")?,
            contact: s("contact")?,
        });
        self.routes.insert(key, c.clone());
        Ok(c)
    }

    #[allow(clippy::too_many_arguments)]
    fn alert(
        &mut self,
        py: Python<'_>,
        st: &TicketState,
        ci: usize,
        kind: AlertKind,
        level: Option<i64>,
        fired_at: f64,
        elapsed: f64,
    ) -> PyResult<AlertRec> {
        let c = &st.clocks[ci];
        let mut deadline = c.deadline;
        if deadline.is_none() && c.state == ClockState::Running && c.acc < c.target {
            let (since, need) = (c.since, c.target - c.acc);
            deadline = Some(self.cal(c.cal, &c.calendar)?.add(py, since, need)?);
        }
        let escalate_to = match level {
            Some(l) if l != 0 => Some(self.route(py, &st.department, l)?),
            _ => None,
        };
        Ok(AlertRec {
            kind,
            ticket_id: st.ticket_id.clone(),
            metric: c.metric,
            level,
            priority: st.priority.clone(),
            department: st.department.clone(),
            assignee: st.assignee.clone(),
            deadline,
            fired_at,
            elapsed_seconds: elapsed,
            target_seconds: c.target,
            calendar: c.calendar.clone(),
            category: st.category.clone(),
            channel: st.channel.clone(),
            escalate_to,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ci: usize,
        bit: u32,
        kind: AlertKind,
        level: Option<i64>,
        fired_at: f64,
        elapsed: f64,
        alerts: &mut Vec<AlertRec>,
    ) -> PyResult<()> {
        {
            let c = &mut st.clocks[ci];
            c.fired |= bit;
            c.nx = None;
            if bit == BREACH && c.deadline.is_none() {
                c.deadline = Some(fired_at);
            }
        }
        let a = self.alert(py, st, ci, kind, level, fired_at, elapsed)?;
        alerts.push(a);
        Ok(())
    }

    // ------------------------------------------------------------ time
    fn next(&mut self, py: Python<'_>, st: &mut TicketState, ci: usize) -> PyResult<Option<Nx>> {
        let c = &st.clocks[ci];
        if let Some(nx) = c.nx {
            return Ok(nx);
        }
        let mut nx = None;
        if c.state == ClockState::Running {
            let thrs = self.thresholds(c.metric, c.target);
            for t in thrs.iter() {
                if c.fired & t.bit != 0 {
                    continue;
                }
                let need = t.thr - c.acc;
                let at = if need <= 0.0 {
                    c.since
                } else {
                    self.cal(c.cal, &c.calendar)?.add(py, c.since, need)?
                };
                nx = Some(Nx {
                    at: round6(at),
                    bit: t.bit,
                    kind: t.kind,
                    level: t.level,
                    thr: t.thr,
                });
                break;
            }
        }
        st.clocks[ci].nx = Some(nx);
        Ok(nx)
    }

    pub fn next_due(&mut self, py: Python<'_>, st: &mut TicketState) -> PyResult<Option<f64>> {
        let mut best: Option<f64> = None;
        for ci in 0..st.clocks.len() {
            if st.clocks[ci].state != ClockState::Running {
                continue;
            }
            let nx = match st.clocks[ci].nx {
                Some(n) => n,
                None => self.next(py, st, ci)?,
            };
            if let Some(n) = nx {
                if best.is_none_or(|b| n.at < b) {
                    best = Some(n.at);
                }
            }
        }
        Ok(best)
    }

    /// Fire the ticket's thresholds before `now` (at or before, when `inclusive`).
    pub fn advance(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        now: f64,
        inclusive: bool,
        alerts: &mut Vec<AlertRec>,
    ) -> PyResult<()> {
        let mut fired = false;
        for ci in 0..st.clocks.len() {
            if st.clocks[ci].state != ClockState::Running {
                continue;
            }
            loop {
                let nx = match st.clocks[ci].nx {
                    Some(n) => n,
                    None => self.next(py, st, ci)?,
                };
                let Some(n) = nx else { break };
                if n.at < now || (inclusive && n.at <= now) {
                    let acc = st.clocks[ci].acc;
                    let elapsed = if acc > n.thr { acc } else { n.thr };
                    self.fire(py, st, ci, n.bit, n.kind, n.level, n.at, elapsed, alerts)?;
                    fired = true;
                } else {
                    break;
                }
            }
        }
        if fired && alerts.len() > 1 {
            alerts.sort_by(|a, b| {
                a.fired_at
                    .partial_cmp(&b.fired_at)
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        Ok(())
    }

    fn fire_exceeded(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ci: usize,
        t: f64,
        alerts: &mut Vec<AlertRec>,
    ) -> PyResult<()> {
        if st.clocks[ci].state == ClockState::Stopped {
            return Ok(());
        }
        let thrs = self.thresholds(st.clocks[ci].metric, st.clocks[ci].target);
        for th in thrs.iter() {
            let c = &st.clocks[ci];
            if c.fired & th.bit == 0 && th.thr < c.acc {
                let acc = c.acc;
                self.fire(py, st, ci, th.bit, th.kind, th.level, t, acc, alerts)?;
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ clocks
    fn catch_up(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ci: usize,
        t: f64,
    ) -> PyResult<()> {
        let c = &mut st.clocks[ci];
        if c.state == ClockState::Running && t > c.since {
            let cal = if c.cal < self.cals.len() {
                &mut self.cals[c.cal]
            } else {
                return Err(PyKeyError::new_err(c.calendar.to_string()));
            };
            let acc = round6(c.acc + cal.elapsed(py, c.since, t)?);
            if c.deadline.is_none() && c.acc < c.target && c.target <= acc {
                c.deadline = Some(cal.add(py, c.since, c.target - c.acc)?);
            }
            c.acc = acc;
            c.since = t;
            c.nx = None;
        }
        Ok(())
    }

    fn halt(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ci: usize,
        t: f64,
        state: ClockState,
    ) -> PyResult<()> {
        self.catch_up(py, st, ci, t)?;
        let c = &mut st.clocks[ci];
        if c.state == ClockState::Running && c.runs.len() % 2 == 1 {
            c.runs.push(c.since);
        }
        c.state = state;
        if t > c.since {
            c.since = t;
        }
        c.nx = None;
        Ok(())
    }

    fn resume(c: &mut Clock, t: f64) {
        c.state = ClockState::Running;
        c.since = t;
        c.nx = None;
        if !c.runs.is_empty() && c.runs.len().is_multiple_of(2) {
            c.runs.push(t);
        }
    }

    fn start(st: &mut TicketState, metric: Metric, t: f64, target: Tgt) -> usize {
        let clock = Clock {
            metric,
            state: ClockState::Running,
            acc: 0.0,
            since: t,
            target: target.seconds,
            calendar: target.calendar,
            cal: target.cal,
            fired: 0,
            deadline: None,
            runs: vec![t],
            nx: None,
        };
        match st.clock_index(metric) {
            Some(ci) => {
                st.clocks[ci] = clock;
                ci
            }
            None => {
                st.clocks.push(clock);
                st.clocks.len() - 1
            }
        }
    }

    fn retarget(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        t: f64,
        alerts: &mut Vec<AlertRec>,
    ) -> PyResult<()> {
        for metric in [Metric::Response, Metric::Resolution] {
            let Some(ci) = st.clock_index(metric) else {
                continue;
            };
            let target = self.target(py, st, metric)?;
            {
                let c = &st.clocks[ci];
                if target.seconds == c.target && *target.calendar == *c.calendar {
                    continue;
                }
            }
            {
                let c = &mut st.clocks[ci];
                c.target = target.seconds;
                c.deadline = None;
            }
            self.catch_up(py, st, ci, t)?;
            if !st.clocks[ci].runs.is_empty() {
                self.deadline_in_runs(py, st, ci, t)?;
            }
            {
                let c = &mut st.clocks[ci];
                c.calendar = target.calendar;
                c.cal = target.cal;
                c.nx = None;
                if c.deadline.is_none() && c.acc >= c.target {
                    c.deadline = Some(t);
                }
            }
            self.fire_exceeded(py, st, ci, t, alerts)?;
        }
        Ok(())
    }

    fn deadline_in_runs(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ci: usize,
        t: f64,
    ) -> PyResult<()> {
        let c = &mut st.clocks[ci];
        let cal = if c.cal < self.cals.len() {
            &mut self.cals[c.cal]
        } else {
            return Err(PyKeyError::new_err(c.calendar.to_string()));
        };
        let target = c.target;
        let runs = &c.runs;
        let mut acc = 0.0;
        let mut found = None;
        let mut i = 0;
        while i < runs.len() {
            let start = runs[i];
            let end = if i + 1 < runs.len() { runs[i + 1] } else { t };
            i += 2;
            if end <= start {
                continue;
            }
            let span = cal.elapsed(py, start, end)?;
            if found.is_none() && acc < target && target <= acc + span {
                found = Some(cal.add(py, start, target - acc)?);
            }
            acc += span;
        }
        if (acc - c.acc).abs() < 1e-6 {
            c.deadline = found;
        }
        Ok(())
    }

    // ------------------------------------------------------------ events
    /// Apply one validated event to its ticket's state (`out` cleared by the caller).
    pub fn apply(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: Event,
        out: &mut Outcome,
    ) -> PyResult<()> {
        if st.seen.iter().any(|s| **s == *ev.event_id) {
            out.duplicate = true;
            return Ok(());
        }
        st.seen.push(ev.event_id.clone());
        self.apply_unseen(py, st, ev, out)
    }

    /// [`Engine::apply`] after its duplicate test (the event's id is in `seen`).
    pub fn apply_unseen(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: Event,
        out: &mut Outcome,
    ) -> PyResult<()> {
        if st.created_at.is_none() && ev.etype != EventType::Created {
            if st.last_at.is_none_or(|l| ev.at > l) {
                st.last_at = Some(ev.at);
            }
            st.pending.push(ev);
            out.held = true;
            return Ok(());
        }
        self.apply_at(py, st, &ev, out)?;
        if ev.etype == EventType::Created && !st.pending.is_empty() {
            let mut held = std::mem::take(&mut st.pending);
            held.sort_by(|a, b| a.at.partial_cmp(&b.at).unwrap_or(std::cmp::Ordering::Equal));
            for e in &held {
                self.apply_at(py, st, e, out)?;
            }
        }
        Ok(())
    }

    fn apply_at(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: &Event,
        out: &mut Outcome,
    ) -> PyResult<()> {
        let mut t = ev.at;
        if st.created_at.is_some() {
            if let Some(l) = st.last_at {
                if t < l {
                    t = l;
                }
            }
        }
        self.advance(py, st, t, false, &mut out.alerts)?;
        match ev.etype {
            EventType::Created => self.on_created(py, st, ev, t, out)?,
            EventType::Assigned => self.on_assigned(py, st, ev, t, out)?,
            EventType::Responded => self.stop_response(py, st, t, out)?,
            EventType::StatusChanged => self.on_status(py, st, ev, t, out)?,
            EventType::PriorityChanged => self.on_priority(py, st, ev, t, out)?,
            EventType::Resolved => self.on_resolved(py, st, ev, t, out)?,
            EventType::Reopened => self.on_reopened(st, t, out),
            EventType::Closed => self.on_closed(py, st, t, out)?,
            EventType::Complaint => self.on_complaint(py, st, t, out)?,
            EventType::Survey => {
                st.survey_done = true;
                let score = ev.score.ok_or_else(|| PyKeyError::new_err("score"))?;
                obs(out, st, ObsKind::Survey, t, Some(score), None, None, None);
            }
            EventType::Followup => {
                st.followup_done = true;
                let method = ev
                    .method
                    .clone()
                    .ok_or_else(|| PyKeyError::new_err("method"))?;
                obs(
                    out,
                    st,
                    ObsKind::Followup,
                    t,
                    None,
                    ev.satisfied,
                    None,
                    Some(method),
                );
            }
        }
        if st.created_at.is_some() {
            st.last_at = Some(match st.last_at {
                Some(l) if l >= t => l,
                _ => t,
            });
        }
        Ok(())
    }

    fn on_created(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: &Event,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        st.dims = None;
        if st.created_at.is_some() {
            // a second ticket.created only fills gaps
            fn fill(slot: &mut Option<Str>, v: &Option<Str>) {
                if slot.is_none() && v.is_some() {
                    *slot = v.clone();
                }
            }
            fill(&mut st.category, &ev.category);
            fill(&mut st.channel, &ev.channel);
            fill(&mut st.department, &ev.department);
            fill(&mut st.product_line, &ev.product_line);
            fill(&mut st.vendor, &ev.vendor);
            fill(&mut st.customer_tier, &ev.customer_tier);
            fill(&mut st.assignee, &ev.assignee);
            return self.retarget(py, st, t, &mut out.alerts);
        }
        st.priority = ev
            .priority
            .clone()
            .ok_or_else(|| PyKeyError::new_err("priority"))?;
        st.category = ev.category.clone();
        st.channel = ev.channel.clone();
        st.department = ev.department.clone();
        st.product_line = ev.product_line.clone();
        st.vendor = ev.vendor.clone();
        st.customer_tier = Some(
            ev.customer_tier
                .clone()
                .unwrap_or_else(|| Rc::from("standard")),
        );
        st.assignee = ev.assignee.clone();
        st.created_at = Some(t);
        st.last_at = Some(t);
        st.status = Rc::from("open");
        let tg = self.target(py, st, Metric::Response)?;
        Engine::start(st, Metric::Response, t, tg);
        let tg = self.target(py, st, Metric::Resolution)?;
        Engine::start(st, Metric::Resolution, t, tg);
        obs(out, st, ObsKind::Created, t, None, None, None, None);
        Ok(())
    }

    fn on_assigned(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: &Event,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        st.dims = None;
        st.assignee = Some(
            ev.assignee
                .clone()
                .ok_or_else(|| PyKeyError::new_err("assignee"))?,
        );
        if ev.department.is_some() {
            st.department = ev.department.clone();
        }
        if ev.vendor.is_some() {
            st.vendor = ev.vendor.clone();
        }
        self.retarget(py, st, t, &mut out.alerts)
    }

    fn stop_response(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        let Some(ci) = st.clock_index(Metric::Response) else {
            return Ok(());
        };
        if st.clocks[ci].state == ClockState::Stopped {
            return Ok(());
        }
        self.halt(py, st, ci, t, ClockState::Stopped)?;
        let (acc, target) = (st.clocks[ci].acc, st.clocks[ci].target);
        obs(
            out,
            st,
            ObsKind::Responded,
            t,
            Some(acc),
            Some(acc <= target),
            None,
            None,
        );
        Ok(())
    }

    fn on_status(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: &Event,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        let new = ev
            .status
            .clone()
            .ok_or_else(|| PyKeyError::new_err("status"))?;
        if &*new == "resolved" {
            return self.on_resolved(py, st, ev, t, out);
        }
        if &*new == "closed" {
            return self.on_closed(py, st, t, out);
        }
        let waiting = &*new == "waiting_customer";
        st.status = new;
        if let Some(ci) = st.clock_index(Metric::Resolution) {
            let state = st.clocks[ci].state;
            if waiting && state == ClockState::Running {
                self.halt(py, st, ci, t, ClockState::Paused)?;
            } else if !waiting && state == ClockState::Paused {
                Engine::resume(&mut st.clocks[ci], t);
            }
        }
        obs(out, st, ObsKind::StatusChanged, t, None, None, None, None);
        Ok(())
    }

    fn on_priority(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: &Event,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        let p = ev
            .priority
            .clone()
            .ok_or_else(|| PyKeyError::new_err("priority"))?;
        if p == st.priority {
            return Ok(());
        }
        st.priority = p;
        st.dims = None;
        self.retarget(py, st, t, &mut out.alerts)?;
        obs(out, st, ObsKind::PriorityChanged, t, None, None, None, None);
        Ok(())
    }

    fn on_resolved(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        ev: &Event,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        self.stop_response(py, st, t, out)?;
        if let Some(ci) = st.clock_index(Metric::Resolution) {
            if st.clocks[ci].state != ClockState::Stopped {
                self.halt(py, st, ci, t, ClockState::Stopped)?;
                let c = &st.clocks[ci];
                let (acc, ok) = (c.acc, c.acc <= c.target && c.fired & BREACH == 0);
                obs(
                    out,
                    st,
                    ObsKind::Resolved,
                    t,
                    Some(acc),
                    Some(ok),
                    ev.first_contact,
                    None,
                );
            }
        }
        self.stop_complaint(py, st, t)?;
        st.status = Rc::from("resolved");
        st.resolved_at = Some(t);
        Ok(())
    }

    fn stop_complaint(&mut self, py: Python<'_>, st: &mut TicketState, t: f64) -> PyResult<()> {
        if let Some(ci) = st.clock_index(Metric::Complaint) {
            if st.clocks[ci].state != ClockState::Stopped {
                self.halt(py, st, ci, t, ClockState::Stopped)?;
            }
        }
        Ok(())
    }

    fn on_reopened(&mut self, st: &mut TicketState, t: f64, out: &mut Outcome) {
        if let Some(ci) = st.clock_index(Metric::Resolution) {
            if st.clocks[ci].state == ClockState::Stopped {
                Engine::resume(&mut st.clocks[ci], t);
            }
        }
        if &*st.status == "resolved" || &*st.status == "closed" {
            st.status = Rc::from("open");
        }
        st.resolved_at = None;
        st.closed_at = None;
        obs(out, st, ObsKind::Reopened, t, None, None, None, None);
    }

    fn on_closed(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        if let Some(ci) = st.clock_index(Metric::Resolution) {
            if st.clocks[ci].state != ClockState::Stopped {
                self.halt(py, st, ci, t, ClockState::Stopped)?;
            }
        }
        self.stop_complaint(py, st, t)?;
        st.status = Rc::from("closed");
        st.closed_at = Some(t);
        obs(out, st, ObsKind::Closed, t, None, None, None, None);
        Ok(())
    }

    fn on_complaint(
        &mut self,
        py: Python<'_>,
        st: &mut TicketState,
        t: f64,
        out: &mut Outcome,
    ) -> PyResult<()> {
        st.complaints += 1;
        let first = st.complaints == 1;
        obs(
            out,
            st,
            ObsKind::Complaint,
            t,
            None,
            Some(first),
            None,
            None,
        );
        if st.complaints != 2 || st.clock_index(Metric::Complaint).is_some() {
            return Ok(());
        }
        let ci = Engine::start(st, Metric::Complaint, t, self.complaint.clone());
        st.clocks[ci].fired |= REPEAT_COMPLAINT_ESCALATED;
        st.clocks[ci].nx = None;
        let a = self.alert(py, st, ci, AlertKind::Escalated, Some(2), t, 0.0)?;
        out.alerts.push(a);
        Ok(())
    }

    // ------------------------------------------------------------ housekeeping
    /// A closed-out ticket past retention (its state may be deleted).
    pub fn expired(&mut self, py: Python<'_>, st: &mut TicketState, now: f64) -> PyResult<bool> {
        let keep = self.retention;
        if st.created_at.is_none() {
            return Ok(st.last_at.is_some_and(|l| now - l > keep));
        }
        let done_at = match &*st.status {
            "closed" => st.closed_at,
            "resolved" => st.resolved_at,
            _ => None,
        };
        Ok(match done_at {
            Some(d) => now - d > keep && self.next_due(py, st)?.is_none(),
            None => false,
        })
    }

    /// (kind, "due"|"overdue") for the follow-ups a resolved ticket still owes.
    pub fn followups(
        &mut self,
        py: Python<'_>,
        resolved_at: Option<f64>,
        survey_done: bool,
        followup_done: bool,
        now: f64,
    ) -> PyResult<Vec<(&'static str, &'static str)>> {
        let mut out = Vec::new();
        let Some(ra) = resolved_at else {
            return Ok(out);
        };
        if !survey_done && now >= ra + SURVEY_DUE_SECONDS {
            out.push((
                "survey",
                if now > ra + SURVEY_OVERDUE_SECONDS {
                    "overdue"
                } else {
                    "due"
                },
            ));
        }
        if !followup_done {
            let i = self
                .cals
                .iter()
                .position(|c| &*c.name == "business")
                .unwrap_or(0);
            let cal = self
                .cals
                .get_mut(i)
                .ok_or_else(|| PyKeyError::new_err("no calendar"))?;
            let wds = cal.working_day_seconds;
            let limit = cal.add(py, ra, VISIT_DUE_WORKING_DAYS * wds)?;
            out.push(("visit", if now > limit { "overdue" } else { "due" }));
        }
        Ok(out)
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn obs(
    out: &mut Outcome,
    st: &mut TicketState,
    kind: ObsKind,
    at: f64,
    value: Option<f64>,
    ok: Option<bool>,
    first_contact: Option<bool>,
    method: Option<Str>,
) {
    let dims = st.dims();
    out.observations.push(Obs {
        kind,
        dims,
        at,
        value,
        ok,
        first_contact,
        method,
    });
}
