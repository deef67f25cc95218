//! Business calendars: `slawatch.sla.calendar.BusinessCalendar.elapsed` and `add`,
//! over a copy of the Python calendar's `_Index` of working intervals.
//!
//! Building years (time zones, holidays) and the bookkeeping of years without holiday
//! data stay in Python: when an instant lies outside the copied index this calls the
//! Python calendar's `_cover` and copies the index it returns; when an instant lies
//! outside the years known to need no report it calls `_note_years` and re-reads the
//! bounds. Same conditions and same order of calls as the Python methods, so the
//! calendar's `years_without_data` and its index come out the same.
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;

use crate::types::Str;

const DAY: f64 = 86_400.0;

/// Python's `round(x, 6)`: correctly rounded (half-even on the exact binary value).
/// Rust's `{:.6}` formatting is exact and rounds ties to even, and parsing is correctly
/// rounded, so the round trip is `round`. Whole numbers (and infinities) are unchanged.
#[inline]
pub fn round6(x: f64) -> f64 {
    if x.fract() == 0.0 || !x.is_finite() {
        return x;
    }
    let mut buf = String::with_capacity(32);
    use std::fmt::Write;
    let _ = write!(buf, "{:.6}", x);
    let r: f64 = buf.parse().unwrap_or(x);
    if r == 0.0 {
        // round(-1e-9, 6) is -0.0 in Python; the parse of "-0.000000" gives -0.0 too
        return r;
    }
    r
}

/// A number for Python: an `int` when whole (as the Python engine's integer arithmetic
/// gave), else a `float`.
#[inline]
pub fn num_to_py<'py>(py: Python<'py>, x: f64) -> Bound<'py, PyAny> {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        (x as i64).into_pyobject(py).unwrap().into_any()
    } else {
        pyo3::types::PyFloat::new(py, x).into_any()
    }
}

#[derive(Debug, Default)]
struct Index {
    safe_lo: f64,
    safe_hi: f64,
    starts: Vec<f64>,
    ends: Vec<f64>,
    before: Vec<f64>,
    after: Vec<f64>,
    total: f64,
}

impl Index {
    #[inline]
    fn cum(&self, t: f64) -> f64 {
        // bisect_right(starts, t) - 1
        let n = self.starts.partition_point(|&s| s <= t);
        if n == 0 {
            return 0.0;
        }
        let i = n - 1;
        if t >= self.ends[i] {
            return self.after[i];
        }
        self.before[i] + (t - self.starts[i])
    }

    fn from_py(idx: &Bound<'_, PyAny>) -> PyResult<Index> {
        let py = idx.py();
        let starts: Vec<f64> = idx.getattr(intern!(py, "starts"))?.extract()?;
        let ends: Vec<f64> = idx.getattr(intern!(py, "ends"))?.extract()?;
        let before: Vec<f64> = idx.getattr(intern!(py, "before"))?.extract()?;
        let after: Vec<f64> = idx.getattr(intern!(py, "after"))?.extract()?;
        let total = after.last().copied().unwrap_or(0.0);
        Ok(Index {
            safe_lo: idx.getattr(intern!(py, "safe_lo"))?.extract()?,
            safe_hi: idx.getattr(intern!(py, "safe_hi"))?.extract()?,
            starts,
            ends,
            before,
            after,
            total,
        })
    }
}

/// One calendar of the policy, by its Python `BusinessCalendar`.
pub struct Calendar {
    pub name: Str,
    py: Py<PyAny>,
    pub always_open: bool,
    pub working_day_seconds: f64,
    idx: Option<Index>,
    /// The Python `_Index` object `idx` was copied from: when Python code (the worker's
    /// at-risk listing, `policy explain`) makes the calendar load another index, the
    /// next call copies that one, so this reads the same intervals the Python
    /// calendar would (its running totals decide float roundings).
    idx_obj: Option<Py<PyAny>>,
    known_lo: f64,
    known_hi: f64,
}

impl Calendar {
    pub fn from_py(name: Str, cal: &Bound<'_, PyAny>) -> PyResult<Calendar> {
        let py = cal.py();
        let idx_obj = cal.getattr(intern!(py, "_index"))?;
        let (idx, idx_obj) = if idx_obj.is_none() {
            (None, None)
        } else {
            (Some(Index::from_py(&idx_obj)?), Some(idx_obj.unbind()))
        };
        Ok(Calendar {
            name,
            py: cal.clone().unbind(),
            always_open: cal.getattr(intern!(py, "always_open"))?.is_truthy()?,
            working_day_seconds: cal.getattr(intern!(py, "working_day_seconds"))?.extract()?,
            idx,
            idx_obj,
            known_lo: cal.getattr(intern!(py, "_known_lo"))?.extract()?,
            known_hi: cal.getattr(intern!(py, "_known_hi"))?.extract()?,
        })
    }

    pub fn py_object<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.py.bind(py)
    }

    fn cover(&mut self, py: Python<'_>, start: f64, end: f64) -> PyResult<()> {
        let cal = self.py.bind(py);
        let idx = cal.call_method1(
            intern!(py, "_cover"),
            (num_to_py(py, start), num_to_py(py, end)),
        )?;
        self.idx = Some(Index::from_py(&idx)?);
        self.idx_obj = Some(idx.unbind());
        Ok(())
    }

    /// Follows the Python calendar's current index (see `idx_obj`).
    #[inline]
    fn sync(&mut self, py: Python<'_>) -> PyResult<()> {
        let cur = self.py.bind(py).getattr(intern!(py, "_index"))?;
        let same = match &self.idx_obj {
            Some(o) => o.as_ptr() == cur.as_ptr(),
            None => cur.is_none(),
        };
        if !same {
            if cur.is_none() {
                self.idx = None;
                self.idx_obj = None;
            } else {
                self.idx = Some(Index::from_py(&cur)?);
                self.idx_obj = Some(cur.unbind());
            }
        }
        Ok(())
    }

    fn note_years(&mut self, py: Python<'_>, start: f64, end: f64) -> PyResult<()> {
        let cal = self.py.bind(py);
        cal.call_method1(
            intern!(py, "_note_years"),
            (num_to_py(py, start), num_to_py(py, end)),
        )?;
        self.known_lo = cal.getattr(intern!(py, "_known_lo"))?.extract()?;
        self.known_hi = cal.getattr(intern!(py, "_known_hi"))?.extract()?;
        Ok(())
    }

    /// `slawatch.sla.calendar._year_of(name, t)`: raises for a non-finite or
    /// out-of-range instant (the refusals of the Python calendar).
    fn year_of(&self, py: Python<'_>, t: f64) -> PyResult<()> {
        let m = py.import("slawatch.sla.calendar")?;
        m.getattr("_year_of")?
            .call1((&*self.name, num_to_py(py, t)))?;
        Ok(())
    }

    /// Business seconds in `[start, end)`; 0 when `end <= start`.
    pub fn elapsed(&mut self, py: Python<'_>, start: f64, end: f64) -> PyResult<f64> {
        if end <= start {
            return Ok(0.0);
        }
        if self.always_open {
            let span = end - start;
            if !span.is_finite() {
                // NaN or infinite (`span - span != 0`): refused, as on other calendars
                self.year_of(py, if !start.is_finite() { start } else { end })?;
            }
            return Ok(span);
        }
        self.sync(py)?;
        let covered = match &self.idx {
            Some(idx) => idx.safe_lo <= start && end <= idx.safe_hi,
            None => false,
        };
        if !covered {
            self.cover(py, start, end)?;
        }
        if start < self.known_lo || end > self.known_hi {
            self.note_years(py, start, end)?;
        }
        let idx = self.idx.as_ref().unwrap();
        Ok(idx.cum(end) - idx.cum(start))
    }

    /// The earliest instant `t >= start` with `elapsed(start, t) >= seconds`.
    pub fn add(&mut self, py: Python<'_>, start: f64, seconds: f64) -> PyResult<f64> {
        if seconds.is_nan() {
            let name = pyo3::types::PyString::new(py, &self.name).repr()?;
            return Err(PyValueError::new_err(format!(
                "calendar {}: cannot add NaN seconds",
                name
            )));
        }
        if seconds <= 0.0 {
            return Ok(start);
        }
        if self.always_open {
            let t = start + seconds;
            if !t.is_finite() {
                self.year_of(py, start)?;
            }
            return Ok(t);
        }
        self.sync(py)?;
        let covered = match &self.idx {
            Some(idx) => idx.safe_lo <= start && start <= idx.safe_hi,
            None => false,
        };
        if !covered {
            self.cover(py, start, start)?;
        }
        loop {
            let idx = self.idx.as_ref().unwrap();
            let target = round6(idx.cum(start) + seconds);
            let reach = if target <= idx.total {
                let i = idx.after.partition_point(|&a| a < target);
                let t = idx.starts[i] + (target - idx.before[i]);
                if t <= idx.safe_hi {
                    if start < self.known_lo || t > self.known_hi {
                        self.note_years(py, start, t)?;
                    }
                    return Ok(if t >= start { t } else { start });
                }
                t
            } else {
                let span = idx.safe_hi - idx.safe_lo;
                let rate = if span > 0.0 && idx.total > 0.0 {
                    idx.total / span
                } else {
                    0.0
                };
                let missing = target - idx.total;
                let guess = if rate != 0.0 {
                    missing / rate
                } else {
                    366.0 * DAY
                };
                let g = guess * 1.1;
                let cap = 8000.0 * 366.0 * DAY;
                let m = if g < cap { g } else { cap };
                idx.safe_hi + if 366.0 * DAY >= m { 366.0 * DAY } else { m }
            };
            self.cover(py, start, reach)?;
        }
    }
}
