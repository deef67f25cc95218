//! Values shared by the engine, the event reader, the alert writer and the backtest.
//!
//! Numbers are `f64` throughout. The Python engine mixed ints and floats, and every
//! value it produced is exactly representable as an `f64` (epoch seconds and business
//! seconds far below 2^53; fractional instants are already binary doubles), so the
//! arithmetic is the same; only the spelling of a whole float in JSON (`1440.0`) differed,
//! and alerts now write whole values as integers in both places.
use std::rc::Rc;

use pyo3::prelude::*;

/// A shared immutable string: ticket ids, departments, priorities are copied into every
/// alert and observation, so they are reference-counted rather than cloned.
pub type Str = Rc<str>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Created,
    Assigned,
    Responded,
    StatusChanged,
    PriorityChanged,
    Resolved,
    Reopened,
    Closed,
    Complaint,
    Survey,
    Followup,
}

impl EventType {
    pub fn from_name(name: &str) -> Option<EventType> {
        Some(match name {
            "ticket.created" => EventType::Created,
            "ticket.assigned" => EventType::Assigned,
            "ticket.responded" => EventType::Responded,
            "ticket.status_changed" => EventType::StatusChanged,
            "ticket.priority_changed" => EventType::PriorityChanged,
            "ticket.resolved" => EventType::Resolved,
            "ticket.reopened" => EventType::Reopened,
            "ticket.closed" => EventType::Closed,
            "ticket.complaint" => EventType::Complaint,
            "survey.submitted" => EventType::Survey,
            "followup.completed" => EventType::Followup,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            EventType::Created => "ticket.created",
            EventType::Assigned => "ticket.assigned",
            EventType::Responded => "ticket.responded",
            EventType::StatusChanged => "ticket.status_changed",
            EventType::PriorityChanged => "ticket.priority_changed",
            EventType::Resolved => "ticket.resolved",
            EventType::Reopened => "ticket.reopened",
            EventType::Closed => "ticket.closed",
            EventType::Complaint => "ticket.complaint",
            EventType::Survey => "survey.submitted",
            EventType::Followup => "followup.completed",
        }
    }
}

/// A validated event: what `slawatch.sla.events.parse_event` returns, reduced to the
/// fields the engine reads. `None` = absent or JSON null (`TicketEvent.get` treats both
/// alike). Fields are filled whatever the type (a `ticket.assigned` may carry a
/// department); the engine reads only those its handler reads.
#[derive(Clone, Debug)]
pub struct Event {
    pub event_id: Str,
    pub etype: EventType,
    pub ticket_id: Str,
    /// `occurred_at` as epoch seconds (whole seconds in the common form; microseconds
    /// otherwise), exactly as `parse_timestamp` gives it.
    pub at: f64,
    pub priority: Option<Str>,
    pub category: Option<Str>,
    pub channel: Option<Str>,
    pub department: Option<Str>,
    pub product_line: Option<Str>,
    pub vendor: Option<Str>,
    pub customer_tier: Option<Str>,
    pub assignee: Option<Str>,
    pub status: Option<Str>,
    pub method: Option<Str>,
    /// `first_contact` / `satisfied` when JSON booleans, else None (the engine ignores
    /// other values, as `isinstance(x, bool)` did).
    pub first_contact: Option<bool>,
    pub satisfied: Option<bool>,
    /// `score` of `survey.submitted` (an int 0-10 after validation).
    pub score: Option<f64>,
    /// The original message as a Python dict, when the event came from Python (the
    /// worker, or a line the native reader handed to the full validator): a ticket state
    /// held before its `ticket.created` stores it (`TicketState.pending`). None for
    /// events read natively by the backtest, whose states are never serialised.
    pub raw: Option<Py<PyAny>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Response,
    Resolution,
    Complaint,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Response => "response",
            Metric::Resolution => "resolution",
            Metric::Complaint => "complaint",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Some(match name {
            "response" => Metric::Response,
            "resolution" => Metric::Resolution,
            "complaint" => Metric::Complaint,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertKind {
    Warning,
    Breached,
    Escalated,
}

impl AlertKind {
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Warning => "sla.warning",
            AlertKind::Breached => "sla.breached",
            AlertKind::Escalated => "sla.escalated",
        }
    }
}

/// An escalation contact (`slawatch.sla.alerts.Contact`).
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub level: i64,
    pub role: Str,
    /// None when the policy routes no one to the level (the alert still names the role).
    pub name: Option<Str>,
    pub contact: Option<Str>,
}

/// One alert, the fields of `slawatch.sla.alerts.Alert` (its JSON record is written by
/// `alert::write_alert`; `alert_id` is computed there from ticket, metric, kind, level).
#[derive(Clone, Debug)]
pub struct AlertRec {
    pub kind: AlertKind,
    pub ticket_id: Str,
    pub metric: Metric,
    pub level: Option<i64>,
    pub priority: Str,
    pub department: Option<Str>,
    pub assignee: Option<Str>,
    pub deadline: Option<f64>,
    pub fired_at: f64,
    pub elapsed_seconds: f64,
    pub target_seconds: f64,
    /// The calendar's name.
    pub calendar: Str,
    pub category: Option<Str>,
    pub channel: Option<Str>,
    pub escalate_to: Option<Rc<Contact>>,
}

/// `slawatch.sla.engine.Dimensions`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dims {
    pub priority: Str,
    pub category: Option<Str>,
    pub channel: Option<Str>,
    pub department: Option<Str>,
    pub product_line: Option<Str>,
    pub vendor: Option<Str>,
    pub customer_tier: Option<Str>,
    pub assignee: Option<Str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObsKind {
    Created,
    Responded,
    StatusChanged,
    PriorityChanged,
    Resolved,
    Reopened,
    Closed,
    Complaint,
    Survey,
    Followup,
}

impl ObsKind {
    pub fn name(self) -> &'static str {
        match self {
            ObsKind::Created => "created",
            ObsKind::Responded => "responded",
            ObsKind::StatusChanged => "status_changed",
            ObsKind::PriorityChanged => "priority_changed",
            ObsKind::Resolved => "resolved",
            ObsKind::Reopened => "reopened",
            ObsKind::Closed => "closed",
            ObsKind::Complaint => "complaint",
            ObsKind::Survey => "survey",
            ObsKind::Followup => "followup",
        }
    }
}

/// `slawatch.sla.engine.Observation`.
#[derive(Clone, Debug)]
pub struct Obs {
    pub kind: ObsKind,
    pub dims: Rc<Dims>,
    pub at: f64,
    pub value: Option<f64>,
    pub ok: Option<bool>,
    pub first_contact: Option<bool>,
    pub method: Option<Str>,
}
