//! `NativeEngine`: the engine as the worker reaches it, through the Python adapter
//! `slawatch.sla.engine.SlaEngine`, one Python `TicketState` at a time (the backtest
//! drives [`Engine`] directly, with native states: `backtest.rs`).
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString, PyTuple};

use crate::alert::alert_to_py;
use crate::calendar::num_to_py;
use crate::engine::{Engine, Outcome};
use crate::state::{
    event_from_ticket_event, nx_to_py, opt_str_py, state_from_py, state_to_py, DimsCache,
    TicketState,
};
use crate::types::{AlertRec, EventType, Obs, ObsKind};

/// The engine for the Python adapter `slawatch.sla.engine.SlaEngine`: reads a Python
/// `TicketState`, runs the native rules, writes the state back into the same object.
#[pyclass(unsendable, module = "slawatch._native")]
pub struct NativeEngine {
    engine: Engine,
    parse_event: Py<PyAny>,
    clock_cls: Py<PyAny>,
    dims_cls: Py<PyAny>,
    obs_make: Py<PyAny>,
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

    /// Writes `st` back into the Python `state` it was loaded from; the dimensions
    /// cache it returns serves the observations' `Dimensions` too.
    fn write_back(
        &self,
        py: Python<'_>,
        st: &TicketState,
        state: &Bound<'_, PyAny>,
        origin: &crate::state::PyOrigin,
    ) -> PyResult<DimsCache> {
        let mut cache = DimsCache(
            origin
                .dims
                .iter()
                .map(|(d, o)| (d.clone(), o.clone_ref(py)))
                .collect(),
        );
        state_to_py(
            py,
            st,
            state,
            origin,
            self.clock_cls.bind(py),
            self.dims_cls.bind(py),
            &mut cache,
        )?;
        Ok(cache)
    }

    fn alerts_to_py<'py>(
        &self,
        py: Python<'py>,
        alerts: &[AlertRec],
    ) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let tz = self.tz.bind(py);
        for a in alerts {
            list.append(alert_to_py(py, a, tz)?)?;
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
        let m_events = py.import("slawatch.sla.events")?;
        Ok(NativeEngine {
            engine,
            parse_event: m_events.getattr("parse_event")?.unbind(),
            clock_cls: m_engine.getattr("Clock")?.unbind(),
            dims_cls: m_engine.getattr("Dimensions")?.unbind(),
            obs_make: m_engine.getattr("Observation")?.getattr("_make")?.unbind(),
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
        // The state is written back also when a rule raised midway, as the Python
        // engine left its state changed up to the error.
        let mut cache = self.write_back(py, &st, state, &origin)?;
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
        self.write_back(py, &st, state, &origin)?;
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
