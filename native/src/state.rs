//! Per-ticket state (`slawatch.sla.engine.TicketState` and `Clock`), and its
//! conversion from and back into the Python objects (the worker's adapter).
use std::rc::Rc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::calendar::num_to_py;
use crate::types::{AlertKind, Dims, Event, EventType, Metric, Str};

pub const WARN: u32 = 1;
pub const BREACH: u32 = 2;
pub const ESC1: u32 = 4;
pub const ESC2: u32 = 8;
pub const REPEAT_COMPLAINT_ESCALATED: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    Running,
    Paused,
    Stopped,
}

impl ClockState {
    pub fn name(self) -> &'static str {
        match self {
            ClockState::Running => "running",
            ClockState::Paused => "paused",
            ClockState::Stopped => "stopped",
        }
    }

    pub fn from_name(s: &str) -> Option<ClockState> {
        Some(match s {
            "running" => ClockState::Running,
            "paused" => ClockState::Paused,
            "stopped" => ClockState::Stopped,
            _ => return None,
        })
    }
}

/// The next unfired threshold of a clock: (instant, bit, kind, level, elapsed).
#[derive(Clone, Copy, Debug)]
pub struct Nx {
    pub at: f64,
    pub bit: u32,
    pub kind: AlertKind,
    pub level: Option<i64>,
    pub thr: f64,
}

#[derive(Clone, Debug)]
pub struct Clock {
    pub metric: Metric,
    pub state: ClockState,
    pub acc: f64,
    pub since: f64,
    pub target: f64,
    /// The calendar's name, and its index in the engine's calendars (usize::MAX: a
    /// name the policy does not have; using it raises KeyError as the dict did).
    pub calendar: Str,
    pub cal: usize,
    pub fired: u32,
    pub deadline: Option<f64>,
    pub runs: Vec<f64>,
    /// Memo of the next unfired threshold: None = stale, Some(None) = none left.
    pub nx: Option<Option<Nx>>,
}

#[derive(Clone, Debug)]
pub struct TicketState {
    pub ticket_id: Str,
    pub created_at: Option<f64>,
    pub last_at: Option<f64>,
    pub priority: Str,
    pub category: Option<Str>,
    pub channel: Option<Str>,
    pub department: Option<Str>,
    pub product_line: Option<Str>,
    pub vendor: Option<Str>,
    pub customer_tier: Option<Str>,
    pub assignee: Option<Str>,
    pub status: Str,
    /// In insertion order (response, resolution, complaint as a rule), as the dict.
    pub clocks: Vec<Clock>,
    pub seen: Vec<Str>,
    pub pending: Vec<Event>,
    pub complaints: i64,
    pub resolved_at: Option<f64>,
    pub closed_at: Option<f64>,
    pub survey_done: bool,
    pub followup_done: bool,
    pub dims: Option<Rc<Dims>>,
}

thread_local! {
    static NORMAL: Str = Rc::from("normal");
    static OPEN: Str = Rc::from("open");
}

impl TicketState {
    pub fn new(ticket_id: Str) -> TicketState {
        TicketState {
            ticket_id,
            created_at: None,
            last_at: None,
            priority: NORMAL.with(|s| s.clone()),
            category: None,
            channel: None,
            department: None,
            product_line: None,
            vendor: None,
            customer_tier: None,
            assignee: None,
            status: OPEN.with(|s| s.clone()),
            clocks: Vec::with_capacity(2),
            seen: Vec::new(),
            pending: Vec::new(),
            complaints: 0,
            resolved_at: None,
            closed_at: None,
            survey_done: false,
            followup_done: false,
            dims: None,
        }
    }

    /// A copy without `seen` and `pending`.
    pub fn clone_scalars(&self) -> TicketState {
        TicketState {
            ticket_id: self.ticket_id.clone(),
            created_at: self.created_at,
            last_at: self.last_at,
            priority: self.priority.clone(),
            category: self.category.clone(),
            channel: self.channel.clone(),
            department: self.department.clone(),
            product_line: self.product_line.clone(),
            vendor: self.vendor.clone(),
            customer_tier: self.customer_tier.clone(),
            assignee: self.assignee.clone(),
            status: self.status.clone(),
            clocks: self.clocks.clone(),
            seen: Vec::new(),
            pending: Vec::new(),
            complaints: self.complaints,
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            survey_done: self.survey_done,
            followup_done: self.followup_done,
            dims: self.dims.clone(),
        }
    }

    #[inline]
    pub fn clock_index(&self, metric: Metric) -> Option<usize> {
        self.clocks.iter().position(|c| c.metric == metric)
    }

    /// `TicketState.dims` (memoised).
    pub fn dims(&mut self) -> Rc<Dims> {
        if let Some(d) = &self.dims {
            return d.clone();
        }
        let d = Rc::new(Dims {
            priority: self.priority.clone(),
            category: self.category.clone(),
            channel: self.channel.clone(),
            department: self.department.clone(),
            product_line: self.product_line.clone(),
            vendor: self.vendor.clone(),
            customer_tier: self.customer_tier.clone(),
            assignee: self.assignee.clone(),
        });
        self.dims = Some(d.clone());
        d
    }
}

// ---------------------------------------------------------------- Python conversion

pub fn opt_str(v: &Bound<'_, PyAny>) -> PyResult<Option<Str>> {
    if v.is_none() {
        return Ok(None);
    }
    match v.downcast::<PyString>() {
        Ok(s) => Ok(Some(Rc::from(s.to_str()?))),
        Err(_) => Ok(None),
    }
}

fn req_str(v: &Bound<'_, PyAny>) -> PyResult<Str> {
    let s: &str = v.downcast::<PyString>()?.to_str()?;
    Ok(Rc::from(s))
}

fn opt_f64(v: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    if v.is_none() {
        Ok(None)
    } else {
        Ok(Some(v.extract()?))
    }
}

pub fn opt_str_py<'py>(py: Python<'py>, v: &Option<Str>) -> Bound<'py, PyAny> {
    match v {
        Some(s) => PyString::new(py, s).into_any(),
        None => py.None().into_bound(py),
    }
}

pub fn opt_num_py<'py>(py: Python<'py>, v: Option<f64>) -> Bound<'py, PyAny> {
    match v {
        Some(x) => num_to_py(py, x),
        None => py.None().into_bound(py),
    }
}

/// A `TicketEvent` (from `parse_event`) as an [`Event`]; `raw` is its `data` dict.
pub fn event_from_ticket_event(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Event> {
    let etype_obj = obj.getattr(intern!(py, "type"))?;
    let etype_s: &str = etype_obj.downcast::<PyString>()?.to_str()?;
    let etype = EventType::from_name(etype_s)
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(etype_s.to_string()))?;
    let data_obj = obj.getattr(intern!(py, "data"))?;
    let data = data_obj.downcast::<PyDict>()?;
    let get = |k: &Bound<'_, PyString>| -> PyResult<Option<Str>> {
        match data.get_item(k)? {
            Some(v) => opt_str(&v),
            None => Ok(None),
        }
    };
    let get_bool = |k: &Bound<'_, PyString>| -> PyResult<Option<bool>> {
        match data.get_item(k)? {
            Some(v) => Ok(v
                .downcast::<pyo3::types::PyBool>()
                .ok()
                .map(|b| b.is_true())),
            None => Ok(None),
        }
    };
    // Only the fields the engine's handler of this type reads (the others stay None).
    use EventType as T;
    let mut e = Event {
        event_id: req_str(&obj.getattr(intern!(py, "event_id"))?)?,
        etype,
        ticket_id: req_str(&obj.getattr(intern!(py, "ticket_id"))?)?,
        at: obj.getattr(intern!(py, "at"))?.extract()?,
        priority: None,
        category: None,
        channel: None,
        department: None,
        product_line: None,
        vendor: None,
        customer_tier: None,
        assignee: None,
        status: None,
        method: None,
        first_contact: None,
        satisfied: None,
        score: None,
        raw: None,
    };
    match etype {
        T::Created => {
            e.priority = get(intern!(py, "priority"))?;
            e.category = get(intern!(py, "category"))?;
            e.channel = get(intern!(py, "channel"))?;
            e.department = get(intern!(py, "department"))?;
            e.product_line = get(intern!(py, "product_line"))?;
            e.vendor = get(intern!(py, "vendor"))?;
            e.customer_tier = get(intern!(py, "customer_tier"))?;
            e.assignee = get(intern!(py, "assignee"))?;
        }
        T::Assigned => {
            e.assignee = get(intern!(py, "assignee"))?;
            e.department = get(intern!(py, "department"))?;
            e.vendor = get(intern!(py, "vendor"))?;
        }
        T::StatusChanged => {
            e.status = get(intern!(py, "status"))?;
            e.first_contact = get_bool(intern!(py, "first_contact"))?;
        }
        T::PriorityChanged => e.priority = get(intern!(py, "priority"))?,
        T::Resolved => e.first_contact = get_bool(intern!(py, "first_contact"))?,
        T::Survey => {
            e.score = match data.get_item(intern!(py, "score"))? {
                Some(v) if !v.is_none() && !v.is_instance_of::<pyo3::types::PyBool>() => {
                    v.extract::<f64>().ok()
                }
                _ => None,
            }
        }
        T::Followup => {
            e.method = get(intern!(py, "method"))?;
            e.satisfied = get_bool(intern!(py, "satisfied"))?;
        }
        T::Responded | T::Reopened | T::Closed | T::Complaint => {}
    }
    e.raw = Some(data_obj.clone().unbind());
    Ok(e)
}

fn kind_from_name(s: &str) -> Option<AlertKind> {
    Some(match s {
        "sla.warning" => AlertKind::Warning,
        "sla.breached" => AlertKind::Breached,
        "sla.escalated" => AlertKind::Escalated,
        _ => return None,
    })
}

/// What the adapter needs to write a state back into the Python object it came from.
pub struct PyOrigin {
    pub seen_len: usize,
    pub pending_len: usize,
    /// The state as loaded (without seen and pending): fields equal to it are not
    /// written back.
    pub loaded: TicketState,
    /// The Python `Dimensions` the state's memo was built from (kept when unchanged).
    pub dims: Option<(Rc<Dims>, Py<PyAny>)>,
}

fn clock_from_py(
    py: Python<'_>,
    c: &Bound<'_, PyAny>,
    cal_index: &dyn Fn(&str) -> usize,
) -> PyResult<Clock> {
    let metric_s: String = c.getattr(intern!(py, "metric"))?.extract()?;
    let metric = Metric::from_name(&metric_s)
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(metric_s.clone()))?;
    let state_s: String = c.getattr(intern!(py, "state"))?.extract()?;
    let state = ClockState::from_name(&state_s).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!("unknown clock state {state_s:?}"))
    })?;
    let calendar = req_str(&c.getattr(intern!(py, "calendar"))?)?;
    let cal = cal_index(&calendar);
    let nx_obj = c.getattr(intern!(py, "nx"))?;
    let nx = if nx_obj.is_none() {
        None
    } else {
        let t = nx_obj.downcast::<PyTuple>()?;
        if t.is_empty() {
            Some(None)
        } else {
            let kind_s: String = t.get_item(2)?.extract()?;
            let level = t.get_item(3)?;
            Some(Some(Nx {
                at: t.get_item(0)?.extract()?,
                bit: t.get_item(1)?.extract()?,
                kind: kind_from_name(&kind_s)
                    .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(kind_s.clone()))?,
                level: if level.is_none() {
                    None
                } else {
                    Some(level.extract()?)
                },
                thr: t.get_item(4)?.extract()?,
            }))
        }
    };
    Ok(Clock {
        metric,
        state,
        acc: c.getattr(intern!(py, "acc"))?.extract()?,
        since: c.getattr(intern!(py, "since"))?.extract()?,
        target: c.getattr(intern!(py, "target"))?.extract()?,
        calendar,
        cal,
        fired: c.getattr(intern!(py, "fired"))?.extract()?,
        deadline: opt_f64(&c.getattr(intern!(py, "deadline"))?)?,
        runs: c.getattr(intern!(py, "runs"))?.extract()?,
        nx,
    })
}

/// A Python `TicketState` as a native one, without its `seen` ids (the adapter keeps
/// them on the Python list). `parse_event` converts held messages; None leaves them on
/// the Python list too (only a `ticket.created` replays them: the Python engine parsed
/// them then, and only then).
pub fn state_from_py<'py>(
    py: Python<'py>,
    s: &Bound<'py, PyAny>,
    parse_event: Option<&Bound<'py, PyAny>>,
    cal_index: &dyn Fn(&str) -> usize,
) -> PyResult<(TicketState, PyOrigin)> {
    let g = |name: &Bound<'py, PyString>| s.getattr(name);
    let clocks_obj = g(intern!(py, "clocks"))?;
    let clocks_d = clocks_obj.downcast::<PyDict>()?;
    let mut clocks = Vec::with_capacity(clocks_d.len());
    for (_, c) in clocks_d.iter() {
        clocks.push(clock_from_py(py, &c, cal_index)?);
    }
    // `seen` stays on the Python list: the adapter tests and records ids there.
    let seen = Vec::new();
    let mut pending = Vec::new();
    if let Some(parse_event) = parse_event {
        let pend_obj = g(intern!(py, "pending"))?;
        let pend_l = pend_obj.downcast::<PyList>()?;
        for d in pend_l.iter() {
            let ev = parse_event.call1((&d,))?;
            let mut e = event_from_ticket_event(py, &ev)?;
            e.raw = Some(d.unbind());
            pending.push(e);
        }
    }
    let dims_obj = g(intern!(py, "dims_memo"))?;
    let dims = if dims_obj.is_none() {
        None
    } else {
        let t = dims_obj.downcast::<PyTuple>()?;
        let d = Rc::new(Dims {
            priority: req_str(&t.get_item(0)?)?,
            category: opt_str(&t.get_item(1)?)?,
            channel: opt_str(&t.get_item(2)?)?,
            department: opt_str(&t.get_item(3)?)?,
            product_line: opt_str(&t.get_item(4)?)?,
            vendor: opt_str(&t.get_item(5)?)?,
            customer_tier: opt_str(&t.get_item(6)?)?,
            assignee: opt_str(&t.get_item(7)?)?,
        });
        Some((d, dims_obj.clone().unbind()))
    };
    let st = TicketState {
        ticket_id: req_str(&g(intern!(py, "ticket_id"))?)?,
        created_at: opt_f64(&g(intern!(py, "created_at"))?)?,
        last_at: opt_f64(&g(intern!(py, "last_at"))?)?,
        priority: req_str(&g(intern!(py, "priority"))?)?,
        category: opt_str(&g(intern!(py, "category"))?)?,
        channel: opt_str(&g(intern!(py, "channel"))?)?,
        department: opt_str(&g(intern!(py, "department"))?)?,
        product_line: opt_str(&g(intern!(py, "product_line"))?)?,
        vendor: opt_str(&g(intern!(py, "vendor"))?)?,
        customer_tier: opt_str(&g(intern!(py, "customer_tier"))?)?,
        assignee: opt_str(&g(intern!(py, "assignee"))?)?,
        status: req_str(&g(intern!(py, "status"))?)?,
        clocks,
        seen,
        pending,
        complaints: g(intern!(py, "complaints"))?.extract()?,
        resolved_at: opt_f64(&g(intern!(py, "resolved_at"))?)?,
        closed_at: opt_f64(&g(intern!(py, "closed_at"))?)?,
        survey_done: g(intern!(py, "survey_done"))?.is_truthy()?,
        followup_done: g(intern!(py, "followup_done"))?.is_truthy()?,
        dims: dims.as_ref().map(|(d, _)| d.clone()),
    };
    let loaded = TicketState {
        seen: Vec::new(),
        pending: Vec::new(),
        ..st.clone_scalars()
    };
    let origin = PyOrigin {
        seen_len: st.seen.len(),
        pending_len: st.pending.len(),
        loaded,
        dims,
    };
    Ok((st, origin))
}

pub fn nx_to_py<'py>(py: Python<'py>, nx: &Option<Option<Nx>>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match nx {
        None => py.None().into_bound(py),
        Some(None) => PyTuple::empty(py).into_any(),
        Some(Some(n)) => {
            let level = match n.level {
                Some(l) => l.into_pyobject(py)?.into_any(),
                None => py.None().into_bound(py),
            };
            PyTuple::new(
                py,
                [
                    num_to_py(py, n.at),
                    n.bit.into_pyobject(py)?.into_any(),
                    PyString::new(py, n.kind.name()).into_any(),
                    level,
                    num_to_py(py, n.thr),
                ],
            )?
            .into_any()
        }
    })
}

/// Python `Dimensions` for native ones: one object per native value (observations of
/// one call and the state's memo share it, as in Python), seeded with the state's own.
pub struct DimsCache(pub Vec<(Rc<Dims>, Py<PyAny>)>);

impl DimsCache {
    pub fn get<'py>(
        &mut self,
        py: Python<'py>,
        d: &Rc<Dims>,
        dims_cls: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        for (od, obj) in &self.0 {
            if Rc::ptr_eq(od, d) {
                return Ok(obj.bind(py).clone());
            }
        }
        let obj = dims_to_py(py, d, dims_cls)?;
        self.0.push((d.clone(), obj.clone().unbind()));
        Ok(obj)
    }
}

fn dims_to_py<'py>(
    py: Python<'py>,
    d: &Rc<Dims>,
    dims_cls: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    dims_cls.call1((
        PyString::new(py, &d.priority),
        opt_str_py(py, &d.category),
        opt_str_py(py, &d.channel),
        opt_str_py(py, &d.department),
        opt_str_py(py, &d.product_line),
        opt_str_py(py, &d.vendor),
        opt_str_py(py, &d.customer_tier),
        opt_str_py(py, &d.assignee),
    ))
}

fn same_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.to_bits() == y.to_bits(),
        _ => false,
    }
}

fn same_nx(a: &Option<Option<Nx>>, b: &Option<Option<Nx>>) -> bool {
    match (a, b) {
        (None, None) | (Some(None), Some(None)) => true,
        (Some(Some(x)), Some(Some(y))) => {
            x.at.to_bits() == y.at.to_bits()
                && x.bit == y.bit
                && x.level == y.level
                && x.thr.to_bits() == y.thr.to_bits()
        }
        _ => false,
    }
}

fn set_clock_fields(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    c: &Clock,
    was: Option<&Clock>,
) -> PyResult<()> {
    if was.is_none_or(|w| w.state != c.state) {
        obj.setattr(intern!(py, "state"), c.state.name())?;
    }
    if was.is_none_or(|w| w.acc.to_bits() != c.acc.to_bits()) {
        obj.setattr(intern!(py, "acc"), num_to_py(py, c.acc))?;
    }
    if was.is_none_or(|w| w.since.to_bits() != c.since.to_bits()) {
        obj.setattr(intern!(py, "since"), num_to_py(py, c.since))?;
    }
    if was.is_none_or(|w| w.target.to_bits() != c.target.to_bits()) {
        obj.setattr(intern!(py, "target"), num_to_py(py, c.target))?;
    }
    if was.is_none_or(|w| w.calendar != c.calendar) {
        obj.setattr(intern!(py, "calendar"), PyString::new(py, &c.calendar))?;
    }
    if was.is_none_or(|w| w.fired != c.fired) {
        obj.setattr(intern!(py, "fired"), c.fired)?;
    }
    if was.is_none_or(|w| !same_opt(w.deadline, c.deadline)) {
        obj.setattr(intern!(py, "deadline"), opt_num_py(py, c.deadline))?;
    }
    match was {
        Some(w) if w.runs.len() <= c.runs.len() && w.runs[..] == c.runs[..w.runs.len()] => {
            if w.runs.len() < c.runs.len() {
                // runs only grow: append to the list the clock has
                let runs_obj = obj.getattr(intern!(py, "runs"))?;
                let runs = runs_obj.downcast::<PyList>()?;
                for &x in &c.runs[w.runs.len()..] {
                    runs.append(num_to_py(py, x))?;
                }
            }
        }
        _ => {
            let runs = PyList::new(py, c.runs.iter().map(|&x| num_to_py(py, x)))?;
            obj.setattr(intern!(py, "runs"), runs)?;
        }
    }
    if was.is_none_or(|w| !same_nx(&w.nx, &c.nx)) {
        obj.setattr(intern!(py, "nx"), nx_to_py(py, &c.nx)?)?;
    }
    Ok(())
}

/// Writes a native state back into the Python `TicketState` it came from (or a new
/// one): the same object, its clock objects updated in place (only the fields that
/// changed since it was read).
pub fn state_to_py<'py>(
    py: Python<'py>,
    st: &TicketState,
    obj: &Bound<'py, PyAny>,
    origin: &PyOrigin,
    clock_cls: &Bound<'py, PyAny>,
    dims_cls: &Bound<'py, PyAny>,
    dims_cache: &mut DimsCache,
) -> PyResult<()> {
    let was = &origin.loaded;
    if !same_opt(was.created_at, st.created_at) {
        obj.setattr(intern!(py, "created_at"), opt_num_py(py, st.created_at))?;
    }
    if !same_opt(was.last_at, st.last_at) {
        obj.setattr(intern!(py, "last_at"), opt_num_py(py, st.last_at))?;
    }
    if was.priority != st.priority {
        obj.setattr(intern!(py, "priority"), PyString::new(py, &st.priority))?;
    }
    macro_rules! opt_field {
        ($f:ident) => {
            if was.$f != st.$f {
                obj.setattr(intern!(py, stringify!($f)), opt_str_py(py, &st.$f))?;
            }
        };
    }
    opt_field!(category);
    opt_field!(channel);
    opt_field!(department);
    opt_field!(product_line);
    opt_field!(vendor);
    opt_field!(customer_tier);
    opt_field!(assignee);
    if was.status != st.status {
        obj.setattr(intern!(py, "status"), PyString::new(py, &st.status))?;
    }
    let clocks_obj = obj.getattr(intern!(py, "clocks"))?;
    let clocks = clocks_obj.downcast::<PyDict>()?;
    for c in &st.clocks {
        let key = c.metric.name();
        match clocks.get_item(key)? {
            Some(existing) => {
                let prior = was.clocks.iter().find(|w| w.metric == c.metric);
                set_clock_fields(py, &existing, c, prior)?
            }
            None => {
                let runs = PyList::new(py, c.runs.iter().map(|&x| num_to_py(py, x)))?;
                let new = clock_cls.call1((
                    key,
                    c.state.name(),
                    num_to_py(py, c.acc),
                    num_to_py(py, c.since),
                    num_to_py(py, c.target),
                    PyString::new(py, &c.calendar),
                    c.fired,
                    opt_num_py(py, c.deadline),
                    runs,
                ))?;
                new.setattr(intern!(py, "nx"), nx_to_py(py, &c.nx)?)?;
                clocks.set_item(key, new)?;
            }
        }
    }
    if st.seen.len() > origin.seen_len {
        let seen_obj = obj.getattr(intern!(py, "seen"))?;
        let seen = seen_obj.downcast::<PyList>()?;
        for s in &st.seen[origin.seen_len..] {
            seen.append(PyString::new(py, s))?;
        }
    }
    if st.pending.is_empty() {
        if origin.pending_len > 0 {
            obj.setattr(intern!(py, "pending"), PyList::empty(py))?;
        }
    } else if st.pending.len() > origin.pending_len {
        let pend_obj = obj.getattr(intern!(py, "pending"))?;
        let pend = pend_obj.downcast::<PyList>()?;
        for e in &st.pending[origin.pending_len..] {
            match &e.raw {
                Some(r) => pend.append(r.bind(py))?,
                None => pend.append(py.None())?,
            }
        }
    }
    if was.complaints != st.complaints {
        obj.setattr(intern!(py, "complaints"), st.complaints)?;
    }
    if !same_opt(was.resolved_at, st.resolved_at) {
        obj.setattr(intern!(py, "resolved_at"), opt_num_py(py, st.resolved_at))?;
    }
    if !same_opt(was.closed_at, st.closed_at) {
        obj.setattr(intern!(py, "closed_at"), opt_num_py(py, st.closed_at))?;
    }
    if was.survey_done != st.survey_done {
        obj.setattr(intern!(py, "survey_done"), st.survey_done)?;
    }
    if was.followup_done != st.followup_done {
        obj.setattr(intern!(py, "followup_done"), st.followup_done)?;
    }
    let same_dims = match (&was.dims, &st.dims) {
        (None, None) => true,
        (Some(a), Some(b)) => Rc::ptr_eq(a, b),
        _ => false,
    };
    if !same_dims {
        let dims = match &st.dims {
            Some(d) => dims_cache.get(py, d, dims_cls)?,
            None => py.None().into_bound(py),
        };
        obj.setattr(intern!(py, "dims_memo"), dims)?;
    }
    Ok(())
}
