//! trace-cmd's `-F EVENT[:FILTER]`: event globs and simple field comparisons.

use kscope_ftrace::format::Value;

use crate::ReportError;

/// A parsed `-F EVENT[:FILTER]`.
#[derive(Debug, Clone)]
pub(crate) struct EventFilter {
    /// `SYSTEM/` part, if given (glob).
    pub(crate) system: Option<String>,
    /// Event name (glob).
    pub(crate) event: String,
    /// Disjunction of conjunctions of comparisons.
    pub(crate) cond: Option<Vec<Vec<Cmp>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Int(i128),
    Str(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Cmp {
    pub(crate) field: String,
    op: Op,
    value: Operand,
}

impl EventFilter {
    pub(crate) fn parse(arg: &str) -> Result<EventFilter, ReportError> {
        let err = |why: &str| ReportError::Filter {
            arg: arg.to_string(),
            why: why.to_string(),
        };
        let (name, cond) = match arg.split_once(':') {
            Some((n, c)) => (n.trim(), Some(c.trim())),
            None => (arg.trim(), None),
        };
        if name.is_empty() {
            return Err(err("no event name"));
        }
        let (system, event) = match name.split_once('/') {
            Some((s, e)) => (Some(s.to_string()), e.to_string()),
            None => (None, name.to_string()),
        };
        let cond = match cond {
            None | Some("") => None,
            Some(c) => Some(parse_cond(c).map_err(|w| err(&w))?),
        };
        Ok(EventFilter {
            system,
            event,
            cond,
        })
    }

    pub(crate) fn matches_event(&self, system: &str, event: &str) -> bool {
        glob(&self.event, event) && self.system.as_deref().is_none_or(|s| glob(s, system))
    }
}

const UNSUPPORTED: &str = "this filter is not supported yet: only FIELD OP VALUE \
     comparisons (OP one of == != < <= > >=) joined by && or || without parentheses are";

fn parse_cond(text: &str) -> Result<Vec<Vec<Cmp>>, String> {
    if text.contains(['(', ')', '!']) && !text.contains("!=") || text.contains('~') {
        return Err(UNSUPPORTED.to_string());
    }
    text.split("||")
        .map(|conj| conj.split("&&").map(parse_cmp).collect())
        .collect()
}

fn parse_cmp(text: &str) -> Result<Cmp, String> {
    let text = text.trim();
    const OPS: [(&str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    for (sym, op) in OPS {
        if let Some((field, value)) = text.split_once(sym) {
            let field = field.trim();
            let value = value.trim();
            if field.is_empty()
                || value.is_empty()
                || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(UNSUPPORTED.to_string());
            }
            let value = if let Some(v) = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            {
                Operand::Str(v.to_string())
            } else if let Some(n) = parse_int(value) {
                Operand::Int(n)
            } else {
                Operand::Str(value.to_string())
            };
            return Ok(Cmp {
                field: field.to_string(),
                op,
                value,
            });
        }
    }
    Err(UNSUPPORTED.to_string())
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()?
    } else {
        s.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Shell-style glob with `*` and `?`.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

pub(crate) fn cmp_holds(c: &Cmp, v: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (v, &c.value) {
        (Value::Signed(a), Operand::Int(b)) => i128::from(*a).cmp(b),
        (Value::Unsigned(a), Operand::Int(b)) => i128::from(*a).cmp(b),
        (Value::Str(a), Operand::Str(b)) => {
            if b.contains(['*', '?']) && matches!(c.op, Op::Eq | Op::Ne) {
                let m = glob(b, a);
                return (c.op == Op::Eq) == m;
            }
            a.as_str().cmp(b.as_str())
        }
        (Value::Str(a), Operand::Int(b)) => a.as_str().cmp(b.to_string().as_str()),
        _ => return false,
    };
    match c.op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    }
}

/// Per event id: whether it is shown, and under which conditions.
pub(crate) enum Selection {
    All,
    Never,
    /// Any of these condition sets (an empty inner list: unconditional).
    When(Vec<Vec<Vec<Cmp>>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("sched_*", "sched_switch"));
        assert!(glob("*wake*", "sched_wakeup_new"));
        assert!(!glob("sched_w?", "sched_wakeup"));
        assert!(glob("irq", "irq"));
    }

    #[test]
    fn filters_parse() {
        let f = EventFilter::parse("sched/sched_switch:prev_pid == 0 && next_pid > 3").unwrap();
        assert_eq!(f.system.as_deref(), Some("sched"));
        assert_eq!(f.cond.unwrap()[0].len(), 2);
        assert!(EventFilter::parse("x:(a == 1)").is_err());
        assert!(EventFilter::parse("x:a ~ 1").is_err());
    }
}
