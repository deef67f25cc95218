//! The SLA engine: sla.md's clocks and signals over a [`TicketState`] (the rules that
//! were `slawatch.sla.engine.SlaEngine`, ported one method to one function, in the same
//! order of calendar calls), and `NativeEngine`, the class the Python `SlaEngine`
//! adapter calls with Python ticket states.
use std::collections::HashMap;
use std::rc::Rc;

use pyo3::exceptions::PyKeyError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString, PyTuple};

use crate::calendar::{num_to_py, round6, Calendar};
use crate::state::{
    event_from_ticket_event, nx_to_py, opt_num_py, opt_str_py, state_from_py, state_to_py, Clock,
    ClockState, DimsCache, Nx, TicketState, BREACH, ESC1, ESC2, REPEAT_COMPLAINT_ESCALATED, WARN,
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

/// (department, level) -> the contact, native and as the Python `Contact`.
type Routes = HashMap<(Option<Str>, i64), (Rc<Contact>, Py<PyAny>)>;

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

    fn route(
        &mut self,
        py: Python<'_>,
        department: &Option<Str>,
        level: i64,
    ) -> PyResult<Rc<Contact>> {
        Ok(self.route_py(py, department, level)?.0)
    }

    /// The escalation contact of (department, level), native and as the Python `Contact`.
    pub fn route_py(
        &mut self,
        py: Python<'_>,
        department: &Option<Str>,
        level: i64,
    ) -> PyResult<(Rc<Contact>, Py<PyAny>)> {
        let key = (department.clone(), level);
        if let Some((c, o)) = self.routes.get(&key) {
            return Ok((c.clone(), o.clone_ref(py)));
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
        let entry = (c.clone(), obj.clone().unbind());
        self.routes.insert(key, (c.clone(), obj.unbind()));
        Ok((c, entry.1))
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

// ---------------------------------------------------------------- Python class

/// The engine for the Python adapter `slawatch.sla.engine.SlaEngine`: reads a Python
/// `TicketState`, runs the native rules, writes the state back into the same object.
#[pyclass(unsendable, module = "slawatch._native")]
pub struct NativeEngine {
    engine: Engine,
    parse_event: Py<PyAny>,
    clock_cls: Py<PyAny>,
    dims_cls: Py<PyAny>,
    obs_make: Py<PyAny>,
    alert_make: Py<PyAny>,
    alert_id_for: Py<PyAny>,
    tz: Py<PyAny>,
}

impl NativeEngine {
    fn load<'py>(
        &self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
        with_pending: bool,
    ) -> PyResult<(TicketState, crate::state::PyOrigin)> {
        let engine = &self.engine;
        let parse = self.parse_event.bind(py);
        state_from_py(py, state, with_pending.then_some(parse), &|name: &str| {
            engine.cal_index(name)
        })
    }

    fn alerts_to_py<'py>(
        &mut self,
        py: Python<'py>,
        alerts: &[AlertRec],
    ) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for a in alerts {
            let level = match a.level {
                Some(l) => l.into_pyobject(py)?.into_any(),
                None => py.None().into_bound(py),
            };
            let tid = PyString::new(py, &a.ticket_id);
            let kind = PyString::new(py, a.kind.name());
            let metric = PyString::new(py, a.metric.name());
            let alert_id = self
                .alert_id_for
                .bind(py)
                .call1((&tid, &metric, &kind, &level))?;
            let escalate_to = match a.level {
                Some(l) if l != 0 => self.engine.route_py(py, &a.department, l)?.1.into_bound(py),
                _ => py.None().into_bound(py),
            };
            let fields = PyTuple::new(
                py,
                [
                    alert_id,
                    kind.into_any(),
                    tid.into_any(),
                    metric.into_any(),
                    level,
                    PyString::new(py, &a.priority).into_any(),
                    opt_str_py(py, &a.department),
                    opt_str_py(py, &a.assignee),
                    opt_num_py(py, a.deadline),
                    num_to_py(py, a.fired_at),
                    num_to_py(py, a.elapsed_seconds),
                    num_to_py(py, a.target_seconds),
                    PyString::new(py, &a.calendar).into_any(),
                    opt_str_py(py, &a.category),
                    opt_str_py(py, &a.channel),
                    escalate_to,
                    self.tz.bind(py).clone(),
                ],
            )?;
            list.append(self.alert_make.bind(py).call1((fields,))?)?;
        }
        Ok(list)
    }

    fn obs_to_py<'py>(
        &self,
        py: Python<'py>,
        observations: &[Obs],
        cache: &mut DimsCache,
    ) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let dims_cls = self.dims_cls.bind(py);
        for o in observations {
            let value = match o.value {
                None => py.None().into_bound(py),
                Some(v) if o.kind == ObsKind::Survey => PyFloat::new(py, v).into_any(),
                Some(v) => num_to_py(py, v),
            };
            let b = |x: Option<bool>| -> Bound<'py, PyAny> {
                match x {
                    Some(v) => pyo3::types::PyBool::new(py, v).to_owned().into_any(),
                    None => py.None().into_bound(py),
                }
            };
            let fields = PyTuple::new(
                py,
                [
                    PyString::new(py, o.kind.name()).into_any(),
                    cache.get(py, &o.dims, dims_cls)?,
                    num_to_py(py, o.at),
                    value,
                    b(o.ok),
                    b(o.first_contact),
                    opt_str_py(py, &o.method),
                ],
            )?;
            list.append(self.obs_make.bind(py).call1((fields,))?)?;
        }
        Ok(list)
    }

    fn write_nx(py: Python<'_>, st: &TicketState, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let clocks_obj = state.getattr(intern!(py, "clocks"))?;
        let clocks = clocks_obj.downcast::<PyDict>()?;
        for c in &st.clocks {
            if let Some(obj) = clocks.get_item(c.metric.name())? {
                obj.setattr(intern!(py, "nx"), nx_to_py(py, &c.nx)?)?;
            }
        }
        Ok(())
    }
}

#[pymethods]
impl NativeEngine {
    #[new]
    fn py_new(
        py: Python<'_>,
        policy: &Bound<'_, PyAny>,
        retention_seconds: f64,
    ) -> PyResult<NativeEngine> {
        let engine = Engine::new(py, policy, retention_seconds)?;
        let m_engine = py.import("slawatch.sla.engine")?;
        let m_alerts = py.import("slawatch.sla.alerts")?;
        let m_events = py.import("slawatch.sla.events")?;
        Ok(NativeEngine {
            engine,
            parse_event: m_events.getattr("parse_event")?.unbind(),
            clock_cls: m_engine.getattr("Clock")?.unbind(),
            dims_cls: m_engine.getattr("Dimensions")?.unbind(),
            obs_make: m_engine.getattr("Observation")?.getattr("_make")?.unbind(),
            alert_make: m_alerts.getattr("Alert")?.getattr("_make")?.unbind(),
            alert_id_for: m_alerts.getattr("alert_id_for")?.unbind(),
            tz: policy.getattr("display_timezone")?.unbind(),
        })
    }

    /// Applies a `TicketEvent` to a `TicketState` (updated in place):
    /// (alerts, observations, duplicate, held).
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>, bool, bool)> {
        // The duplicate test and the id's record on the Python list itself (the native
        // state then carries no ids: converting them each call cost more than the test).
        let event_id = event.getattr(intern!(py, "event_id"))?;
        let seen_obj = state.getattr(intern!(py, "seen"))?;
        let seen = seen_obj.downcast::<PyList>()?;
        if seen.contains(&event_id)? {
            return Ok((PyList::empty(py), PyList::empty(py), true, false));
        }
        let ev = event_from_ticket_event(py, event)?;
        let (mut st, origin) = self.load(py, state, ev.etype == EventType::Created)?;
        seen.append(&event_id)?;
        let mut out = Outcome::default();
        let res = self.engine.apply_unseen(py, &mut st, ev, &mut out);
        let mut cache = DimsCache(
            origin
                .dims
                .iter()
                .map(|(d, o)| (d.clone(), o.clone_ref(py)))
                .collect(),
        );
        // The state is written back also when a rule raised midway, as the Python
        // engine left its state changed up to the error.
        state_to_py(
            py,
            &st,
            state,
            &origin,
            self.clock_cls.bind(py),
            self.dims_cls.bind(py),
            &mut cache,
        )?;
        res?;
        let alerts = self.alerts_to_py(py, &out.alerts)?;
        let observations = self.obs_to_py(py, &out.observations, &mut cache)?;
        Ok((alerts, observations, false, out.held))
    }

    /// Fires the state's thresholds before `now` (at or before, if inclusive): alerts.
    fn advance<'py>(
        &mut self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
        now: f64,
        inclusive: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let (mut st, origin) = self.load(py, state, false)?;
        let mut alerts = Vec::new();
        let res = self
            .engine
            .advance(py, &mut st, now, inclusive, &mut alerts);
        let mut cache = DimsCache(
            origin
                .dims
                .iter()
                .map(|(d, o)| (d.clone(), o.clone_ref(py)))
                .collect(),
        );
        state_to_py(
            py,
            &st,
            state,
            &origin,
            self.clock_cls.bind(py),
            self.dims_cls.bind(py),
            &mut cache,
        )?;
        res?;
        self.alerts_to_py(py, &alerts)
    }

    fn next_due<'py>(
        &mut self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        // The memo's hit, read from the Python clocks: the earliest `nx` of the running
        // clocks when none is stale.
        {
            let clocks_obj = state.getattr(intern!(py, "clocks"))?;
            let clocks = clocks_obj.downcast::<PyDict>()?;
            let mut best: Option<Bound<'py, PyAny>> = None;
            let mut best_f = 0.0f64;
            let mut stale = false;
            for (_, c) in clocks.iter() {
                let cs = c.getattr(intern!(py, "state"))?;
                if !cs
                    .downcast::<PyString>()
                    .is_ok_and(|s| s.to_str().is_ok_and(|s| s == "running"))
                {
                    continue;
                }
                let nx = c.getattr(intern!(py, "nx"))?;
                if nx.is_none() {
                    stale = true;
                    break;
                }
                let t = nx.downcast::<PyTuple>()?;
                if t.is_empty() {
                    continue;
                }
                let at = t.get_item(0)?;
                let at_f: f64 = at.extract()?;
                if best.is_none() || at_f < best_f {
                    best_f = at_f;
                    best = Some(at);
                }
            }
            if !stale {
                return Ok(best);
            }
        }
        let (mut st, _) = self.load(py, state, false)?;
        let due = self.engine.next_due(py, &mut st);
        NativeEngine::write_nx(py, &st, state)?;
        Ok(due?.map(|d| num_to_py(py, d)))
    }

    fn expired<'py>(
        &mut self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
        now: f64,
    ) -> PyResult<bool> {
        let (mut st, _) = self.load(py, state, false)?;
        let r = self.engine.expired(py, &mut st, now);
        NativeEngine::write_nx(py, &st, state)?;
        r
    }

    #[pyo3(signature = (resolved_at, survey_done, followup_done, now))]
    fn followups(
        &mut self,
        py: Python<'_>,
        resolved_at: Option<f64>,
        survey_done: bool,
        followup_done: bool,
        now: f64,
    ) -> PyResult<Vec<(&'static str, &'static str)>> {
        self.engine
            .followups(py, resolved_at, survey_done, followup_done, now)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeEngine>()?;
    Ok(())
}
