//! slawatch's native SLA engine (see docs/architecture.md, "The engine").
//!
//! The rules of sla.md live here once: the live worker calls them through
//! `slawatch.sla.engine.SlaEngine` (one ticket state at a time), the backtest through
//! `slawatch.sla.backtest` (the whole replay loop natively). Python keeps what is not
//! per-event: policy loading, calendars' year building, the full event validator's
//! rejections and messages, CLI and summaries.
use pyo3::prelude::*;

pub mod alert;
pub mod backtest;
pub mod calendar;
pub mod engine;
pub mod event;
pub mod py_engine;
pub mod state;
pub mod types;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py_engine::register(m)?;
    event::register(m)?;
    alert::register(m)?;
    backtest::register(m)?;
    // A bug in the native code (a Rust panic) reaches Python as PanicException, a
    // BaseException that `except Exception` would let through: named here so that the
    // engine's Python adapter can turn it into an ordinary error.
    m.add(
        "PanicException",
        m.py().get_type::<pyo3::panic::PanicException>(),
    )?;
    Ok(())
}
