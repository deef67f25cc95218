//! The native fast path of the event validator (`slawatch.sla.events.parse_event`).
//!
//! [`read_event`] reads one line of JSON and answers only "certainly valid, and these are
//! the values" or "not sure" (`None`): the caller then runs Python's `parse_event`, which
//! alone decides rejections and words them. It is stricter than the Python fast pass in
//! a few rare spellings, never looser: whatever it accepts, `orjson.loads` + the full
//! validator accept with the same values (tests/unit/test_native_io.py checks this on
//! mutated corpora).
//!
//! The JSON is read by a hand-written scanner (no tree is built): the values of the
//! contract's fields are kept as slices of the line, every other value is only checked
//! to be JSON as orjson reads it. `None` (defer) for: invalid UTF-8 or JSON, a repeated
//! contract field, a lone surrogate escape, an integer of more than 18 digits, a float
//! whose exponent is beyond ±250 or longer than 40 characters, nesting
//! deeper than 64, a timestamp not of the form `YYYY-MM-DD[Tt ]HH:MM:SS(Z|z|±HH:MM)`
//! with the offset's minutes below 60, a `schema` other than absent/null/`1`, a string
//! field of the engine (priority, department, ...) holding a non-string, a `score`
//! other than an integer 0-10 (also on types that do not check it).
use std::cell::RefCell;
use std::rc::Rc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString};

use crate::types::{Event, EventType, Str};

// ---------------------------------------------------------------------------- fields
// The fields the reader keeps (every field of the contract); any other key is skipped.
const F_EVENT_ID: usize = 0;
const F_TYPE: usize = 1;
const F_TICKET_ID: usize = 2;
const F_OCCURRED_AT: usize = 3;
const F_SCHEMA: usize = 4;
const F_PRIORITY: usize = 5;
const F_CATEGORY: usize = 6;
const F_CHANNEL: usize = 7;
const F_DEPARTMENT: usize = 8;
const F_PRODUCT_LINE: usize = 9;
const F_CUSTOMER_ID: usize = 10;
const F_CUSTOMER_TIER: usize = 11;
const F_ASSIGNEE: usize = 12;
const F_VENDOR: usize = 13;
const F_TITLE: usize = 14;
const F_AGENT: usize = 15;
const F_STATUS: usize = 16;
const F_REASON: usize = 17;
const F_FIRST_CONTACT: usize = 18;
const F_SOLUTION: usize = 19;
const F_TEXT: usize = 20;
const F_SCORE: usize = 21;
const F_COMMENT: usize = 22;
const F_METHOD: usize = 23;
const F_SATISFIED: usize = 24;
const N_FIELDS: usize = 25;

#[inline]
fn field_index(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"event_id" => F_EVENT_ID,
        b"type" => F_TYPE,
        b"ticket_id" => F_TICKET_ID,
        b"occurred_at" => F_OCCURRED_AT,
        b"schema" => F_SCHEMA,
        b"priority" => F_PRIORITY,
        b"category" => F_CATEGORY,
        b"channel" => F_CHANNEL,
        b"department" => F_DEPARTMENT,
        b"product_line" => F_PRODUCT_LINE,
        b"customer_id" => F_CUSTOMER_ID,
        b"customer_tier" => F_CUSTOMER_TIER,
        b"assignee" => F_ASSIGNEE,
        b"vendor" => F_VENDOR,
        b"title" => F_TITLE,
        b"agent" => F_AGENT,
        b"status" => F_STATUS,
        b"reason" => F_REASON,
        b"first_contact" => F_FIRST_CONTACT,
        b"solution" => F_SOLUTION,
        b"text" => F_TEXT,
        b"score" => F_SCORE,
        b"comment" => F_COMMENT,
        b"method" => F_METHOD,
        b"satisfied" => F_SATISFIED,
        _ => return None,
    })
}

// The enumerations of slawatch/sla/events.py, in its order.
const PRIORITIES: &[&str] = &["normal", "urgent", "major"];
const CATEGORIES: &[&str] = &["quality", "service", "product", "other"];
const CHANNELS: &[&str] = &["phone", "email", "app", "web", "wechat", "visit", "other"];
const TIERS: &[&str] = &["standard", "vip", "key_account"];
const STATUSES: &[&str] = &[
    "open",
    "in_progress",
    "waiting_customer",
    "resolved",
    "closed",
];
const FOLLOWUP_METHODS: &[&str] = &["phone", "online", "visit"];

#[derive(Clone, Copy)]
enum Kind {
    /// A string of at most this many code points.
    Str(usize),
    Enum(&'static [&'static str]),
    Bool,
    Score,
}

const NAME: Kind = Kind::Str(256);
const TEXT: Kind = Kind::Str(10_000);

/// `EVENT_TYPES`: (field, check, required) per type.
fn spec(t: EventType) -> &'static [(usize, Kind, bool)] {
    match t {
        EventType::Created => &[
            (F_PRIORITY, Kind::Enum(PRIORITIES), true),
            (F_CATEGORY, Kind::Enum(CATEGORIES), true),
            (F_CHANNEL, Kind::Enum(CHANNELS), false),
            (F_DEPARTMENT, NAME, false),
            (F_PRODUCT_LINE, NAME, false),
            (F_CUSTOMER_ID, NAME, false),
            (F_CUSTOMER_TIER, Kind::Enum(TIERS), false),
            (F_ASSIGNEE, NAME, false),
            (F_VENDOR, NAME, false),
            (F_TITLE, TEXT, false),
        ],
        EventType::Assigned => &[
            (F_ASSIGNEE, NAME, true),
            (F_DEPARTMENT, NAME, false),
            (F_VENDOR, NAME, false),
        ],
        EventType::Responded => &[(F_AGENT, NAME, false)],
        EventType::StatusChanged => &[
            (F_STATUS, Kind::Enum(STATUSES), true),
            (F_REASON, TEXT, false),
        ],
        EventType::PriorityChanged => &[
            (F_PRIORITY, Kind::Enum(PRIORITIES), true),
            (F_REASON, TEXT, false),
        ],
        EventType::Resolved => &[
            (F_FIRST_CONTACT, Kind::Bool, false),
            (F_SOLUTION, TEXT, false),
        ],
        EventType::Reopened => &[(F_REASON, TEXT, false)],
        EventType::Closed => &[(F_REASON, TEXT, false)],
        EventType::Complaint => &[(F_TEXT, TEXT, false)],
        EventType::Survey => &[(F_SCORE, Kind::Score, true), (F_COMMENT, TEXT, false)],
        EventType::Followup => &[
            (F_METHOD, Kind::Enum(FOLLOWUP_METHODS), true),
            (F_SATISFIED, Kind::Bool, false),
            (F_COMMENT, TEXT, false),
        ],
    }
}

// ---------------------------------------------------------------------------- scanner
/// A kept value: a slice of the line, not yet converted.
#[derive(Clone, Copy)]
enum Val<'a> {
    Absent,
    Null,
    Bool(bool),
    Int(i64),
    /// The bytes between the quotes, and whether they hold an escape.
    Str(&'a [u8], bool),
    /// A float, array or object.
    Other,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

const MAX_DEPTH: u32 = 64;

impl<'a> Scanner<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A string starting at the opening quote: its contents and whether it has escapes.
    /// Checks what orjson checks: UTF-8 (each run of non-ASCII bytes is a whole UTF-8
    /// text, as no ASCII byte can sit inside a character), no control character, valid
    /// escapes; a lone surrogate escape is refused.
    #[inline]
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        debug_assert_eq!(self.b[self.i], b'"');
        let start = self.i + 1;
        let mut i = start;
        let b = self.b;
        let mut escaped = false;
        loop {
            // eight bytes at a time, to the first that is not plain ASCII
            while let Some(w) = b.get(i..i + 8) {
                let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
                let hits = special(w);
                if hits != 0 {
                    i += (hits.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            let c = *b.get(i)?;
            if c == b'"' {
                self.i = i + 1;
                return Some((&b[start..i], escaped));
            }
            if c < 0x20 {
                return None;
            }
            if c >= 0x80 {
                let mut j = i + 1;
                while matches!(b.get(j), Some(&x) if x >= 0x80) {
                    j += 1;
                }
                std::str::from_utf8(&b[i..j]).ok()?;
                i = j;
            } else if c == b'\\' {
                escaped = true;
                let e = *b.get(i + 1)?;
                match e {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let u = hex4(b.get(i + 2..i + 6)?)?;
                        i += 6;
                        if (0xD800..0xDC00).contains(&u) {
                            if b.get(i) != Some(&b'\\') || b.get(i + 1) != Some(&b'u') {
                                return None;
                            }
                            let lo = hex4(b.get(i + 2..i + 6)?)?;
                            if !(0xDC00..0xE000).contains(&lo) {
                                return None;
                            }
                            i += 6;
                        } else if (0xDC00..0xE000).contains(&u) {
                            return None;
                        }
                    }
                    _ => return None,
                }
            } else {
                i += 1;
            }
        }
    }

    /// A number: `Some(Some(n))` for an integer orjson reads as an int that fits the
    /// checks here, `Some(None)` for a float, `None` when not sure.
    fn number(&mut self) -> Option<Option<i64>> {
        let b = self.b;
        let mut i = self.i;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return None,
        }
        let int_end = i;
        let mut float = false;
        if b.get(i) == Some(&b'.') {
            float = true;
            i += 1;
            let s = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == s {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            float = true;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let s = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            // a small exponent of few digits: orjson refuses a number reading as
            // infinity (at most 40 characters, so below 1e291 with this bound)
            if i == s || i - s > 3 {
                return None;
            }
            let exp: u32 = std::str::from_utf8(&b[s..i]).ok()?.parse().ok()?;
            if exp > 250 {
                return None;
            }
        }
        if i - self.i > 40 {
            return None;
        }
        self.i = i;
        if float {
            return Some(None);
        }
        let digits = &b[int_start..int_end];
        if digits.len() > 18 {
            return None; // orjson turns big integers into floats: not sure, defer
        }
        let mut n: i64 = 0;
        for &d in digits {
            n = n * 10 + (d - b'0') as i64;
        }
        Some(Some(if neg { -n } else { n }))
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// Any JSON value (the scanner is on its first byte).
    fn value(&mut self, depth: u32) -> Option<Val<'a>> {
        match self.peek()? {
            b'"' => {
                let (s, esc) = self.string()?;
                Some(Val::Str(s, esc))
            }
            b't' => {
                self.literal(b"true")?;
                Some(Val::Bool(true))
            }
            b'f' => {
                self.literal(b"false")?;
                Some(Val::Bool(false))
            }
            b'n' => {
                self.literal(b"null")?;
                Some(Val::Null)
            }
            b'-' | b'0'..=b'9' => Some(match self.number()? {
                Some(n) => Val::Int(n),
                None => Val::Other,
            }),
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(Val::Other);
                }
                loop {
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.ws();
                        }
                        b']' => {
                            self.i += 1;
                            return Some(Val::Other);
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(Val::Other);
                }
                loop {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => {
                            self.i += 1;
                            self.ws();
                        }
                        b'}' => {
                            self.i += 1;
                            return Some(Val::Other);
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The bytes of a word of eight that are a quote, a backslash, a control character or
/// non-ASCII, as their high bits. Bytes above the first such byte may be flagged
/// wrongly (a borrow of the has-zero-byte test), but the lowest flag is always right
/// and there is none when no byte is special.
#[inline]
fn special(w: u64) -> u64 {
    let q = w ^ (LO * 0x22);
    let bs = w ^ (LO * 0x5c);
    let quote = q.wrapping_sub(LO) & !q;
    let backslash = bs.wrapping_sub(LO) & !bs;
    let control = w.wrapping_sub(LO * 0x20) & !w;
    (quote | backslash | control | w) & HI
}

#[inline]
fn hex4(h: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        n = n * 16 + d as u32;
    }
    Some(n)
}

/// The contents of a string with escapes (already checked by the scanner), unescaped.
fn unescape(s: &[u8]) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = s[i + 1];
        i += 2;
        let ch = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let u = hex4(&s[i..i + 4])?;
                i += 4;
                if (0xD800..0xDC00).contains(&u) {
                    let lo = hex4(&s[i + 2..i + 6])?;
                    i += 6;
                    char::from_u32(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))?
                } else {
                    char::from_u32(u)?
                }
            }
            _ => return None,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).ok()
}

/// A string value's text (unescaped when it has escapes).
enum Text<'a> {
    Plain(&'a str),
    Owned(String),
}

impl Text<'_> {
    #[inline]
    fn as_str(&self) -> &str {
        match self {
            Text::Plain(s) => s,
            Text::Owned(s) => s,
        }
    }
}

#[inline]
fn text(s: &[u8], escaped: bool) -> Option<Text<'_>> {
    if escaped {
        unescape(s).map(Text::Owned)
    } else {
        // SAFETY: `Scanner::string` checked the contents to be UTF-8 (ASCII bytes and
        // whole UTF-8 runs).
        Some(Text::Plain(unsafe { std::str::from_utf8_unchecked(s) }))
    }
}

/// Python's `len()`: code points.
#[inline]
fn chars(s: &str) -> usize {
    s.bytes().filter(|&b| (b & 0xC0) != 0x80).count()
}

#[inline]
fn len_within(s: &str, max: usize) -> bool {
    s.len() <= max || chars(s) <= max
}

// ---------------------------------------------------------------------------- timestamps
#[inline]
fn d2(b: &[u8], i: usize) -> Option<i64> {
    let x = b[i].wrapping_sub(b'0');
    let y = b[i + 1].wrapping_sub(b'0');
    if x > 9 || y > 9 {
        return None;
    }
    Some((x * 10 + y) as i64)
}

/// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil).
#[inline]
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[inline]
fn leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// `parse_timestamp(value)` for `YYYY-MM-DD[Tt ]HH:MM:SS(Z|z|±HH:MM)`, else None.
fn timestamp(b: &[u8]) -> Option<i64> {
    if b.len() != 20 && b.len() != 25 {
        return None;
    }
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let y = d2(b, 0)? * 100 + d2(b, 2)?;
    let mo = d2(b, 5)?;
    let d = d2(b, 8)?;
    let h = d2(b, 11)?;
    let mi = d2(b, 14)?;
    let s = d2(b, 17)?;
    if y < 1 || !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let dim = match mo {
        2 => {
            if leap(y) {
                29
            } else {
                28
            }
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d > dim {
        return None;
    }
    let shift = if b.len() == 20 {
        if b[19] != b'Z' && b[19] != b'z' {
            return None;
        }
        0
    } else {
        let sign = match b[19] {
            b'+' => -1,
            b'-' => 1,
            _ => return None,
        };
        if b[22] != b':' {
            return None;
        }
        let oh = d2(b, 20)?;
        let om = d2(b, 23)?;
        if oh > 23 || om > 59 {
            return None;
        }
        sign * (oh * 3600 + om * 60)
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s + shift)
}

// ---------------------------------------------------------------------------- strings
thread_local! {
    /// One shared `Rc<str>` per enumeration value (priorities, channels, ...): the engine
    /// copies them into every state and alert.
    static INTERNED: RefCell<Vec<(&'static str, Str)>> = const { RefCell::new(Vec::new()) };
}

fn interned(s: &'static str) -> Str {
    INTERNED.with(|cell| {
        let mut v = cell.borrow_mut();
        for (k, rc) in v.iter() {
            if std::ptr::eq(*k, s) {
                return rc.clone();
            }
        }
        let rc: Str = Rc::from(s);
        v.push((s, rc.clone()));
        rc
    })
}

/// The `Str` of an enumeration value, if it is one of `choices`.
#[inline]
fn enum_value(s: &str, choices: &'static [&'static str]) -> Option<Str> {
    for c in choices {
        if *c == s {
            return Some(interned(c));
        }
    }
    None
}

// ---------------------------------------------------------------------------- reader
/// The event of one line, when it is certainly valid (see the module's doc); else None.
pub fn read_event(line: &[u8]) -> Option<Event> {
    let mut sc = Scanner { b: line, i: 0 };
    sc.ws();
    if sc.peek()? != b'{' {
        return None;
    }
    sc.i += 1;
    let mut vals: [Val<'_>; N_FIELDS] = [Val::Absent; N_FIELDS];
    sc.ws();
    if sc.peek()? == b'}' {
        return None; // {}: no event_id
    }
    loop {
        if sc.peek()? != b'"' {
            return None;
        }
        let (key, esc) = sc.string()?;
        let idx = if esc {
            let k = unescape(key)?;
            field_index(k.as_bytes())
        } else {
            field_index(key)
        };
        sc.ws();
        if sc.peek()? != b':' {
            return None;
        }
        sc.i += 1;
        sc.ws();
        let v = sc.value(1)?;
        if let Some(idx) = idx {
            if !matches!(vals[idx], Val::Absent) {
                return None; // a repeated field: orjson keeps the last; defer
            }
            vals[idx] = v;
        }
        sc.ws();
        match sc.peek()? {
            b',' => {
                sc.i += 1;
                sc.ws();
            }
            b'}' => {
                sc.i += 1;
                break;
            }
            _ => return None,
        }
    }
    sc.ws();
    if sc.i != line.len() {
        return None;
    }
    build(&vals)
}

fn str_of<'a>(v: Val<'a>) -> Option<Text<'a>> {
    match v {
        Val::Str(s, esc) => text(s, esc),
        _ => None,
    }
}

fn build(vals: &[Val<'_>; N_FIELDS]) -> Option<Event> {
    let event_id = str_of(vals[F_EVENT_ID])?;
    let eid = event_id.as_str();
    if eid.is_empty() || !len_within(eid, 128) {
        return None;
    }
    let ticket_id = str_of(vals[F_TICKET_ID])?;
    let tid = ticket_id.as_str();
    if tid.is_empty() || !len_within(tid, 64) {
        return None;
    }
    let etype = EventType::from_name(str_of(vals[F_TYPE])?.as_str())?;
    let at = timestamp(str_of(vals[F_OCCURRED_AT])?.as_str().as_bytes())?;
    match vals[F_SCHEMA] {
        Val::Absent | Val::Null | Val::Int(1) => {}
        _ => return None,
    }
    // The string fields the engine reads, with the enumeration they were checked
    // against (an interned value), if this type checks one.
    let mut strs: [Option<Str>; N_FIELDS] = Default::default();
    for &(f, kind, required) in spec(etype) {
        let v = vals[f];
        if matches!(v, Val::Absent | Val::Null) {
            if required {
                return None;
            }
            continue;
        }
        match kind {
            Kind::Str(max) => {
                let t = str_of(v)?;
                if !len_within(t.as_str(), max) {
                    return None;
                }
            }
            Kind::Enum(choices) => {
                strs[f] = Some(enum_value(str_of(v)?.as_str(), choices)?);
            }
            Kind::Bool => {
                if !matches!(v, Val::Bool(_)) {
                    return None;
                }
            }
            Kind::Score => {
                if !matches!(v, Val::Int(0..=10)) {
                    return None;
                }
            }
        }
    }
    let mut opt = |f: usize| -> Result<Option<Str>, ()> {
        if let Some(s) = strs[f].take() {
            return Ok(Some(s));
        }
        match vals[f] {
            Val::Absent | Val::Null => Ok(None),
            Val::Str(s, esc) => {
                let t = text(s, esc).ok_or(())?;
                Ok(Some(Rc::from(t.as_str())))
            }
            _ => Err(()), // a non-string where the engine reads a string: defer
        }
    };
    let priority = opt(F_PRIORITY).ok()?;
    let category = opt(F_CATEGORY).ok()?;
    let channel = opt(F_CHANNEL).ok()?;
    let department = opt(F_DEPARTMENT).ok()?;
    let product_line = opt(F_PRODUCT_LINE).ok()?;
    let vendor = opt(F_VENDOR).ok()?;
    let customer_tier = opt(F_CUSTOMER_TIER).ok()?;
    let assignee = opt(F_ASSIGNEE).ok()?;
    let status = opt(F_STATUS).ok()?;
    let method = opt(F_METHOD).ok()?;
    let boolean = |f: usize| match vals[f] {
        Val::Bool(b) => Some(b),
        _ => None,
    };
    let score = match vals[F_SCORE] {
        Val::Absent | Val::Null => None,
        Val::Int(n @ 0..=10) => Some(n as f64),
        _ => return None,
    };
    Some(Event {
        event_id: Rc::from(eid),
        etype,
        ticket_id: Rc::from(tid),
        at: at as f64,
        priority,
        category,
        channel,
        department,
        product_line,
        vendor,
        customer_tier,
        assignee,
        status,
        method,
        first_contact: boolean(F_FIRST_CONTACT),
        satisfied: boolean(F_SATISFIED),
        score,
        raw: None,
    })
}

// ---------------------------------------------------------------------------- from Python
/// The `Event` of a Python `TicketEvent` (validated by `parse_event`), its `data` dict
/// kept as `raw`. Optional fields read as `TicketEvent.get` does (None when missing or
/// None); a string field holding a non-string (possible only on a type that does not
/// check that field, which the engine then does not read) reads as None; `first_contact`
/// and `satisfied` only when bools; `score` is `float(data["score"])` when a number.
pub fn event_from_py(py: Python<'_>, ev: &Bound<'_, PyAny>) -> PyResult<Event> {
    let _ = py;
    let event_id: String = ev.getattr(pyo3::intern!(py, "event_id"))?.extract()?;
    let etype_name = ev.getattr(pyo3::intern!(py, "type"))?;
    let etype_name = etype_name.downcast::<PyString>()?.to_cow()?;
    let etype = EventType::from_name(&etype_name).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!("unknown event type {etype_name:?}"))
    })?;
    let ticket_id: String = ev.getattr(pyo3::intern!(py, "ticket_id"))?.extract()?;
    let at: f64 = ev.getattr(pyo3::intern!(py, "at"))?.extract()?;
    let data_obj = ev.getattr(pyo3::intern!(py, "data"))?;
    let data = data_obj.downcast::<PyDict>()?;
    let get = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(data.get_item(name)?.filter(|v| !v.is_none()))
    };
    let text =
        |name: &'static str, choices: Option<&'static [&'static str]>| -> PyResult<Option<Str>> {
            let Some(v) = get(name)? else { return Ok(None) };
            let Ok(s) = v.downcast::<PyString>() else {
                return Ok(None);
            };
            let s = s.to_cow()?;
            if let Some(choices) = choices {
                if let Some(rc) = enum_value(&s, choices) {
                    return Ok(Some(rc));
                }
            }
            Ok(Some(Rc::from(&*s)))
        };
    let boolean = |name: &str| -> PyResult<Option<bool>> {
        Ok(match get(name)? {
            Some(v) => v.downcast::<PyBool>().ok().map(|b| b.is_true()),
            None => None,
        })
    };
    let score = match get("score")? {
        Some(v) if !v.is_instance_of::<PyString>() => v.extract::<f64>().ok(),
        _ => None,
    };
    Ok(Event {
        event_id: Rc::from(event_id.as_str()),
        etype,
        ticket_id: Rc::from(ticket_id.as_str()),
        at,
        priority: text("priority", Some(PRIORITIES))?,
        category: text("category", Some(CATEGORIES))?,
        channel: text("channel", Some(CHANNELS))?,
        department: text("department", None)?,
        product_line: text("product_line", None)?,
        vendor: text("vendor", None)?,
        customer_tier: text("customer_tier", Some(TIERS))?,
        assignee: text("assignee", None)?,
        status: text("status", Some(STATUSES))?,
        method: text("method", Some(FOLLOWUP_METHODS))?,
        first_contact: boolean("first_contact")?,
        satisfied: boolean("satisfied")?,
        score,
        raw: Some(data_obj.unbind()),
    })
}

// ---------------------------------------------------------------------------- for tests
fn fields_dict<'py>(py: Python<'py>, ev: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("event_id", &*ev.event_id)?;
    d.set_item("type", ev.etype.name())?;
    d.set_item("ticket_id", &*ev.ticket_id)?;
    d.set_item("at", ev.at)?;
    let s = |o: &Option<Str>| o.as_deref().map(str::to_owned);
    d.set_item("priority", s(&ev.priority))?;
    d.set_item("category", s(&ev.category))?;
    d.set_item("channel", s(&ev.channel))?;
    d.set_item("department", s(&ev.department))?;
    d.set_item("product_line", s(&ev.product_line))?;
    d.set_item("vendor", s(&ev.vendor))?;
    d.set_item("customer_tier", s(&ev.customer_tier))?;
    d.set_item("assignee", s(&ev.assignee))?;
    d.set_item("status", s(&ev.status))?;
    d.set_item("method", s(&ev.method))?;
    d.set_item("first_contact", ev.first_contact)?;
    d.set_item("satisfied", ev.satisfied)?;
    d.set_item("score", ev.score)?;
    Ok(d)
}

/// The fields `read_event` gives for a line (a dict; `at` a float), or None when it
/// defers to Python's `parse_event`.
#[pyfunction]
fn read_event_fields<'py>(
    py: Python<'py>,
    line: &Bound<'py, PyBytes>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    match read_event(line.as_bytes()) {
        Some(ev) => Ok(Some(fields_dict(py, &ev)?)),
        None => Ok(None),
    }
}

/// The fields `event_from_py` gives for a Python `TicketEvent`, as `read_event_fields`.
#[pyfunction]
fn event_fields_from_py<'py>(
    py: Python<'py>,
    ev: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let e = event_from_py(py, ev)?;
    fields_dict(py, &e)
}

/// How many lines of a file `read_event` accepts, reading each `repeat` times (a
/// benchmark and acceptance count without Python in the loop): (lines, accepted,
/// seconds spent in `read_event`, the file's split into lines excluded).
#[pyfunction]
#[pyo3(signature = (path, repeat = 1))]
fn read_events_count(py: Python<'_>, path: &str, repeat: usize) -> PyResult<(usize, usize, f64)> {
    let data = std::fs::read(path)?;
    py.allow_threads(|| {
        let lines: Vec<&[u8]> = data.split_inclusive(|&c| c == b'\n').collect();
        let mut ok = 0;
        let start = std::time::Instant::now();
        for _ in 0..repeat {
            for line in &lines {
                if read_event(line).is_some() {
                    ok += 1;
                }
            }
        }
        Ok((lines.len() * repeat, ok, start.elapsed().as_secs_f64()))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_event_fields, m)?)?;
    m.add_function(wrap_pyfunction!(event_fields_from_py, m)?)?;
    m.add_function(wrap_pyfunction!(read_events_count, m)?)?;
    Ok(())
}
