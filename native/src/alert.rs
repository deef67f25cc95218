//! Alert ids, alert instants and the alert's JSON line, byte for byte as
//! `slawatch.sla.alerts` gives them (`alert_id_for`, `format_instant`,
//! `orjson.dumps(Alert.to_record()) + b"\n"`), and the Python `Alert` of an [`AlertRec`].
//!
//! Falls back to Python: an instant that is not a whole second, or whose UTC hour
//! `_hour_offset` cannot spell (an offset change inside the hour, a zone offset with
//! microseconds, out of `datetime`'s range: Python then raises as it did), is formatted
//! by `format_instant` itself; a whole number of seconds beyond the 64-bit range is
//! handed to `orjson.dumps` (which refuses it, as the Python writer did).
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use sha1::{Digest, Sha1};

use crate::event::days_from_civil;
use crate::types::{AlertKind, AlertRec, Contact, Metric};

// ---------------------------------------------------------------------------- ids
/// `alert_id_for`'s namespace, 6f1c2b8e-5d0a-4c59-9a8e-3d5e7c1b2a90.
const NAMESPACE: [u8; 16] = [
    0x6f, 0x1c, 0x2b, 0x8e, 0x5d, 0x0a, 0x4c, 0x59, 0x9a, 0x8e, 0x3d, 0x5e, 0x7c, 0x1b, 0x2a, 0x90,
];
const HEX: &[u8; 16] = b"0123456789abcdef";

/// `alert_id_for(ticket_id, metric, kind, level)` appended to `out`: uuid5 of
/// `"{ticket_id}\x1f{metric}\x1f{kind}\x1f{level or ''}"`.
pub fn alert_id(ticket_id: &str, metric: &str, kind: &str, level: Option<i64>, out: &mut String) {
    let mut h = Sha1::new();
    h.update(NAMESPACE);
    h.update(ticket_id.as_bytes());
    h.update(b"\x1f");
    h.update(metric.as_bytes());
    h.update(b"\x1f");
    h.update(kind.as_bytes());
    h.update(b"\x1f");
    if let Some(level) = level.filter(|&l| l != 0) {
        h.update(itoa::Buffer::new().format(level).as_bytes());
    }
    let digest = h.finalize();
    let mut hex = [0u8; 40];
    for (i, b) in digest.iter().enumerate() {
        hex[2 * i] = HEX[(b >> 4) as usize];
        hex[2 * i + 1] = HEX[(b & 15) as usize];
    }
    let nibble16 = (hex[16] as char).to_digit(16).unwrap_or(0) as usize;
    let mut id = [0u8; 36];
    id[..8].copy_from_slice(&hex[..8]);
    id[8] = b'-';
    id[9..13].copy_from_slice(&hex[8..12]);
    id[13] = b'-';
    id[14] = b'5';
    id[15..18].copy_from_slice(&hex[13..16]);
    id[18] = b'-';
    id[19] = HEX[8 | (nibble16 & 3)];
    id[20..23].copy_from_slice(&hex[17..20]);
    id[23] = b'-';
    id[24..36].copy_from_slice(&hex[20..32]);
    // ASCII hex digits and dashes only
    out.push_str(std::str::from_utf8(&id).unwrap_or_default());
}

// ---------------------------------------------------------------------------- instants
static ALERTS_MODULE: GILOnceCell<Py<PyModule>> = GILOnceCell::new();

fn alerts_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(ALERTS_MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(PyModule::import(py, "slawatch.sla.alerts")?.unbind())
        })?
        .bind(py))
}

/// `(offset seconds, isoformat suffix)` of a UTC hour, or None when `_hour_offset`
/// gives `()`.
type HourOffset = Option<(i64, Rc<str>)>;

const MEMO_MAX: usize = 65_536;
/// Whole seconds below this magnitude take the memoised path (as Python ints).
const INT_LIMIT: f64 = 4_611_686_018_427_387_904.0; // 2^62

/// `format_instant(ts, tz)` for one zone, memoised per UTC hour like the Python.
pub struct InstantFormat {
    tz: Py<PyAny>,
    hour_offset: Py<PyAny>,
    format_instant: Py<PyAny>,
    last_hour: i64,
    last: HourOffset,
    has_last: bool,
    memo: HashMap<i64, HourOffset>,
    /// The last day written and its text.
    day: i64,
    day_text: [u8; 10],
}

impl InstantFormat {
    pub fn new(py: Python<'_>, tz: &Bound<'_, PyAny>) -> PyResult<InstantFormat> {
        let m = alerts_module(py)?;
        Ok(InstantFormat {
            tz: tz.clone().unbind(),
            hour_offset: m.getattr("_hour_offset")?.unbind(),
            format_instant: m.getattr("format_instant")?.unbind(),
            last_hour: 0,
            last: None,
            has_last: false,
            memo: HashMap::new(),
            day: i64::MIN,
            day_text: [0; 10],
        })
    }

    pub fn tz<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.tz.bind(py)
    }

    fn hour(&mut self, py: Python<'_>, hour: i64) -> PyResult<HourOffset> {
        if self.has_last && self.last_hour == hour {
            return Ok(self.last.clone());
        }
        let found = match self.memo.get(&hour) {
            Some(found) => found.clone(),
            None => {
                let got = self.hour_offset.bind(py).call1((self.tz.bind(py), hour))?;
                let tuple = got.downcast::<PyTuple>()?;
                let found: HourOffset = if tuple.is_empty() {
                    None
                } else {
                    let offset: i64 = tuple.get_item(0)?.extract()?;
                    let suffix = tuple.get_item(1)?;
                    let suffix = suffix.downcast::<PyString>()?.to_cow()?;
                    Some((offset, Rc::from(&*suffix)))
                };
                if self.memo.len() >= MEMO_MAX {
                    self.memo.clear();
                }
                self.memo.insert(hour, found.clone());
                found
            }
        };
        self.last_hour = hour;
        self.last = found.clone();
        self.has_last = true;
        Ok(found)
    }

    fn python(&self, py: Python<'_>, ts: Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
        let text = self.format_instant.bind(py).call1((ts, self.tz.bind(py)))?;
        out.extend_from_slice(text.downcast::<PyString>()?.to_cow()?.as_bytes());
        Ok(())
    }

    /// Appends `format_instant(ts, tz)` (as the old engine called it: an int for a whole
    /// second, else a float).
    pub fn write(&mut self, py: Python<'_>, ts: f64, out: &mut Vec<u8>) -> PyResult<()> {
        // NaN and infinities too (their fract() is NaN)
        if ts.fract() != 0.0 || ts.abs() >= INT_LIMIT {
            return self.python(py, ts.into_pyobject(py)?.into_any(), out);
        }
        let t = ts as i64;
        let Some((offset, suffix)) = self.hour(py, t.div_euclid(3600))? else {
            return self.python(py, t.into_pyobject(py)?.into_any(), out);
        };
        let local = t + offset;
        let day = local.div_euclid(86_400);
        if day != self.day {
            let mut text = Vec::with_capacity(10);
            write_day(day, &mut text);
            self.day_text.copy_from_slice(&text);
            self.day = day;
        }
        out.extend_from_slice(&self.day_text);
        let second = local.rem_euclid(86_400);
        out.push(b'T');
        two(second / 3600, out);
        out.push(b':');
        two(second / 60 % 60, out);
        out.push(b':');
        two(second % 60, out);
        out.extend_from_slice(suffix.as_bytes());
        Ok(())
    }
}

#[inline]
fn two(n: i64, out: &mut Vec<u8>) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `date.isoformat()` of a day (years 1-9999: `_hour_offset` refused any other).
fn write_day(day: i64, out: &mut Vec<u8>) {
    let (y, m, d) = civil_from_days(day);
    debug_assert_eq!(days_from_civil(y, m, d), day);
    two(y / 100, out);
    two(y % 100, out);
    out.push(b'-');
    two(m, out);
    out.push(b'-');
    two(d, out);
}

// ---------------------------------------------------------------------------- JSON
/// A JSON string as orjson writes it: `"` `\` and control characters escaped (`\b \t \n
/// \f \r`, else `\u00XX` in lower case), everything else (DEL, U+2028, non-ASCII) as is.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        // eight bytes at a time while none is a quote, a backslash or a control character
        if let Some(w) = b.get(i..i + 8) {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            let q = w ^ (LO * 0x22);
            let bs = w ^ (LO * 0x5c);
            let hit = (q.wrapping_sub(LO) & !q)
                | (bs.wrapping_sub(LO) & !bs)
                | (w.wrapping_sub(LO * 0x20) & !w);
            if hit & HI == 0 {
                i += 8;
                continue;
            }
        }
        let c = b[i];
        if c >= 0x20 && c != b'"' && c != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn write_opt_str(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => write_str(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A float as orjson writes it: the shortest round-trip digits, in decimal notation for
/// decimal exponents -5..=15 (`0.00001`, `1234.5`), else `1.5e-7` / `1e+16`.
pub fn write_float(v: f64, out: &mut Vec<u8>) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v).as_bytes();
    match s.iter().position(|&c| c == b'e') {
        Some(e) if s.get(e + 1) != Some(&b'-') => {
            out.extend_from_slice(&s[..=e]);
            out.push(b'+');
            out.extend_from_slice(&s[e + 1..]);
        }
        _ => out.extend_from_slice(s),
    }
}

/// A number of seconds as `Alert.to_record` + orjson write it: a whole value as an
/// integer (`_whole`), any other as a float.
pub fn write_seconds(py: Python<'_>, v: f64, out: &mut Vec<u8>) -> PyResult<()> {
    if v.is_finite() && v.fract() == 0.0 {
        if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
            out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        } else if (0.0..18_446_744_073_709_551_616.0).contains(&v) {
            out.extend_from_slice(itoa::Buffer::new().format(v as u64).as_bytes());
        } else {
            // orjson refuses an int beyond 64 bits: raise as the Python writer did
            let int = py.import("builtins")?.getattr("int")?.call1((v,))?;
            let text = py.import("orjson")?.getattr("dumps")?.call1((int,))?;
            out.extend_from_slice(text.downcast::<PyBytes>()?.as_bytes());
        }
    } else {
        write_float(v, out);
    }
    Ok(())
}

/// `orjson.dumps(alert.to_record()) + b"\n"` appended to `out` (the alert's tz is the
/// formatter's).
pub fn write_alert(
    py: Python<'_>,
    a: &AlertRec,
    fmt: &mut InstantFormat,
    out: &mut Vec<u8>,
) -> PyResult<()> {
    let mut id = String::with_capacity(36);
    alert_id(
        &a.ticket_id,
        a.metric.name(),
        a.kind.name(),
        a.level,
        &mut id,
    );
    out.extend_from_slice(b"{\"alert_id\":\"");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\",\"kind\":\"");
    out.extend_from_slice(a.kind.name().as_bytes());
    out.extend_from_slice(b"\",\"ticket_id\":");
    write_str(&a.ticket_id, out);
    out.extend_from_slice(b",\"metric\":\"");
    out.extend_from_slice(a.metric.name().as_bytes());
    out.extend_from_slice(b"\",\"level\":");
    match a.level {
        Some(l) => out.extend_from_slice(itoa::Buffer::new().format(l).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"priority\":");
    write_str(&a.priority, out);
    out.extend_from_slice(b",\"department\":");
    write_opt_str(a.department.as_deref(), out);
    out.extend_from_slice(b",\"assignee\":");
    write_opt_str(a.assignee.as_deref(), out);
    out.extend_from_slice(b",\"deadline\":");
    let mut fired = Vec::with_capacity(32);
    fmt.write(py, a.fired_at, &mut fired)?;
    match a.deadline {
        None => out.extend_from_slice(b"null"),
        Some(d) => {
            out.push(b'"');
            if d == a.fired_at {
                out.extend_from_slice(&fired);
            } else {
                fmt.write(py, d, out)?;
            }
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"fired_at\":\"");
    out.extend_from_slice(&fired);
    out.extend_from_slice(b"\",\"elapsed_seconds\":");
    write_seconds(py, a.elapsed_seconds, out)?;
    out.extend_from_slice(b",\"target_seconds\":");
    write_seconds(py, a.target_seconds, out)?;
    out.extend_from_slice(b",\"calendar\":");
    write_str(&a.calendar, out);
    out.extend_from_slice(b",\"category\":");
    write_opt_str(a.category.as_deref(), out);
    out.extend_from_slice(b",\"channel\":");
    write_opt_str(a.channel.as_deref(), out);
    out.extend_from_slice(b",\"escalate_to\":");
    match &a.escalate_to {
        None => out.extend_from_slice(b"null"),
        Some(c) => {
            out.extend_from_slice(b"{\"level\":");
            out.extend_from_slice(itoa::Buffer::new().format(c.level).as_bytes());
            out.extend_from_slice(b",\"role\":");
            write_str(&c.role, out);
            out.extend_from_slice(b",\"name\":");
            write_opt_str(c.name.as_deref(), out);
            out.extend_from_slice(b",\"contact\":");
            write_opt_str(c.contact.as_deref(), out);
            out.push(b'}');
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

// ---------------------------------------------------------------------------- to Python
static ALERT_MAKE: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
static CONTACT_CLASS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();

type ContactCache = HashMap<usize, (Rc<Contact>, Py<PyAny>)>;

thread_local! {
    /// Python `Contact`s by the address of their `Rc` (kept alive here, so an address
    /// is never reused for another contact while its entry exists).
    static CONTACTS: RefCell<ContactCache> = RefCell::new(HashMap::new());
}

/// A number as the Python engine held it: an int when whole, else a float.
fn number<'py>(py: Python<'py>, v: f64) -> PyResult<Bound<'py, PyAny>> {
    if v.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v)
    {
        Ok((v as i64).into_pyobject(py)?.into_any())
    } else {
        Ok(v.into_pyobject(py)?.into_any())
    }
}

fn opt_str<'py>(py: Python<'py>, s: Option<&str>) -> Bound<'py, PyAny> {
    match s {
        Some(s) => PyString::new(py, s).into_any(),
        None => py.None().into_bound(py),
    }
}

fn contact_to_py(py: Python<'_>, c: &Rc<Contact>) -> PyResult<Py<PyAny>> {
    let key = Rc::as_ptr(c) as usize;
    if let Some(found) = CONTACTS.with(|m| m.borrow().get(&key).map(|(_, o)| o.clone_ref(py))) {
        return Ok(found);
    }
    let cls = CONTACT_CLASS.get_or_try_init(py, || {
        Ok::<_, PyErr>(alerts_module(py)?.getattr("Contact")?.unbind())
    })?;
    let obj = cls
        .bind(py)
        .call1((c.level, &*c.role, c.name.as_deref(), c.contact.as_deref()))?
        .unbind();
    CONTACTS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 4096 {
            m.clear();
        }
        m.insert(key, (c.clone(), obj.clone_ref(py)));
    });
    Ok(obj)
}

/// The Python `Alert` of an alert (`Alert._make` of its 17 fields, `tz` the given zone).
pub fn alert_to_py(py: Python<'_>, a: &AlertRec, tz: &Bound<'_, PyAny>) -> PyResult<PyObject> {
    let make = ALERT_MAKE.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            alerts_module(py)?
                .getattr("Alert")?
                .getattr("_make")?
                .unbind(),
        )
    })?;
    let mut id = String::with_capacity(36);
    alert_id(
        &a.ticket_id,
        a.metric.name(),
        a.kind.name(),
        a.level,
        &mut id,
    );
    let level = match a.level {
        Some(l) => l.into_pyobject(py)?.into_any(),
        None => py.None().into_bound(py),
    };
    let deadline = match a.deadline {
        Some(d) => number(py, d)?,
        None => py.None().into_bound(py),
    };
    let escalate_to = match &a.escalate_to {
        Some(c) => contact_to_py(py, c)?.into_bound(py),
        None => py.None().into_bound(py),
    };
    let fields: [Bound<'_, PyAny>; 17] = [
        PyString::new(py, &id).into_any(),
        PyString::new(py, a.kind.name()).into_any(),
        PyString::new(py, &a.ticket_id).into_any(),
        PyString::new(py, a.metric.name()).into_any(),
        level,
        PyString::new(py, &a.priority).into_any(),
        opt_str(py, a.department.as_deref()),
        opt_str(py, a.assignee.as_deref()),
        deadline,
        number(py, a.fired_at)?,
        number(py, a.elapsed_seconds)?,
        number(py, a.target_seconds)?,
        PyString::new(py, &a.calendar).into_any(),
        opt_str(py, a.category.as_deref()),
        opt_str(py, a.channel.as_deref()),
        escalate_to,
        tz.clone(),
    ];
    let tuple = PyTuple::new(py, fields)?;
    Ok(make.bind(py).call1((tuple,))?.unbind())
}

// ---------------------------------------------------------------------------- for tests
fn kind_from_name(name: &str) -> PyResult<AlertKind> {
    Ok(match name {
        "sla.warning" => AlertKind::Warning,
        "sla.breached" => AlertKind::Breached,
        "sla.escalated" => AlertKind::Escalated,
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown alert kind {name:?}"
            )))
        }
    })
}

fn opt_rc(v: Bound<'_, PyAny>) -> PyResult<Option<Rc<str>>> {
    if v.is_none() {
        return Ok(None);
    }
    Ok(Some(Rc::from(v.extract::<String>()?.as_str())))
}

/// The `AlertRec` of a Python `Alert` (its alert_id and tz are not kept).
fn alert_from_py(a: &Bound<'_, PyAny>) -> PyResult<AlertRec> {
    let get = |name: &str| a.getattr(name);
    let metric_name: String = get("metric")?.extract()?;
    let escalate_to = {
        let c = get("escalate_to")?;
        if c.is_none() {
            None
        } else {
            Some(Rc::new(Contact {
                level: c.getattr("level")?.extract()?,
                role: Rc::from(c.getattr("role")?.extract::<String>()?.as_str()),
                name: opt_rc(c.getattr("name")?)?,
                contact: opt_rc(c.getattr("contact")?)?,
            }))
        }
    };
    Ok(AlertRec {
        kind: kind_from_name(&get("kind")?.extract::<String>()?)?,
        ticket_id: Rc::from(get("ticket_id")?.extract::<String>()?.as_str()),
        metric: Metric::from_name(&metric_name).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("unknown metric {metric_name:?}"))
        })?,
        level: get("level")?.extract()?,
        priority: Rc::from(get("priority")?.extract::<String>()?.as_str()),
        department: opt_rc(get("department")?)?,
        assignee: opt_rc(get("assignee")?)?,
        deadline: get("deadline")?.extract()?,
        fired_at: get("fired_at")?.extract()?,
        elapsed_seconds: get("elapsed_seconds")?.extract()?,
        target_seconds: get("target_seconds")?.extract()?,
        calendar: Rc::from(get("calendar")?.extract::<String>()?.as_str()),
        category: opt_rc(get("category")?)?,
        channel: opt_rc(get("channel")?)?,
        escalate_to,
    })
}

fn tz_of<'py>(py: Python<'py>, a: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let tz = a.getattr("tz")?;
    if tz.is_none() {
        Ok(py.import("datetime")?.getattr("UTC")?)
    } else {
        Ok(tz)
    }
}

/// `alert_id_for(ticket_id, metric, kind, level)`, natively.
#[pyfunction]
#[pyo3(name = "alert_id")]
#[pyo3(signature = (ticket_id, metric, kind, level))]
fn alert_id_py(ticket_id: &str, metric: &str, kind: &str, level: Option<i64>) -> String {
    let mut out = String::with_capacity(36);
    alert_id(ticket_id, metric, kind, level, &mut out);
    out
}

/// `[format_instant(ts, tz) for ts in instants]` through one native formatter (a float
/// that is a whole second is formatted as the int it equals).
#[pyfunction]
fn format_instants(
    py: Python<'_>,
    tz: &Bound<'_, PyAny>,
    instants: Vec<f64>,
) -> PyResult<Vec<String>> {
    let mut fmt = InstantFormat::new(py, tz)?;
    let mut out = Vec::with_capacity(instants.len());
    let mut buf = Vec::with_capacity(32);
    for ts in instants {
        buf.clear();
        fmt.write(py, ts, &mut buf)?;
        out.push(
            String::from_utf8(buf.clone())
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?,
        );
    }
    Ok(out)
}

/// The native JSON line of a Python `Alert` (its fields through `AlertRec`, the id
/// recomputed, `tz` or UTC): equals `orjson.dumps(alert.to_record()) + b"\n"`.
#[pyfunction]
fn alert_json<'py>(py: Python<'py>, alert: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let rec = alert_from_py(alert)?;
    let mut fmt = InstantFormat::new(py, &tz_of(py, alert)?)?;
    let mut out = Vec::with_capacity(512);
    write_alert(py, &rec, &mut fmt, &mut out)?;
    Ok(PyBytes::new(py, &out))
}

/// A Python `Alert` through `AlertRec` and back (`alert_to_py`, its tz or UTC).
#[pyfunction]
fn alert_roundtrip(py: Python<'_>, alert: &Bound<'_, PyAny>) -> PyResult<PyObject> {
    let rec = alert_from_py(alert)?;
    alert_to_py(py, &rec, &tz_of(py, alert)?)
}

/// Writes the JSON lines of `alerts` `repeat` times through one formatter, returning
/// the bytes written (a benchmark of `write_alert`; the conversion from Python is
/// outside the timed loop, which it returns in seconds).
#[pyfunction]
fn write_alerts_bench(
    py: Python<'_>,
    alerts: &Bound<'_, PyList>,
    tz: &Bound<'_, PyAny>,
    repeat: usize,
) -> PyResult<(usize, f64)> {
    let recs: Vec<AlertRec> = alerts
        .iter()
        .map(|a| alert_from_py(&a))
        .collect::<PyResult<_>>()?;
    let mut fmt = InstantFormat::new(py, tz)?;
    let mut out = Vec::with_capacity(1 << 20);
    let mut total = 0;
    let start = std::time::Instant::now();
    for _ in 0..repeat {
        for r in &recs {
            write_alert(py, r, &mut fmt, &mut out)?;
        }
        total += out.len();
        out.clear();
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((total, secs))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(alert_id_py, m)?)?;
    m.add_function(wrap_pyfunction!(format_instants, m)?)?;
    m.add_function(wrap_pyfunction!(alert_json, m)?)?;
    m.add_function(wrap_pyfunction!(alert_roundtrip, m)?)?;
    m.add_function(wrap_pyfunction!(write_alerts_bench, m)?)?;
    Ok(())
}
