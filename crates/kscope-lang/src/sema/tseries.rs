//! `tseries(value, interval_ns, num_intervals [, agg])`: the checks on its arguments
//! (upstream's pre-type-check rules) and the aggregation it selects.

use std::fmt;

use super::check::Checker;
use super::types::AggKind;
use crate::ast::{Expr, ExprKind};
use crate::diag::Diagnostic;

/// The most intervals one `tseries()` keeps.
pub const MAX_INTERVALS: u64 = 1_000_000;

/// How the values written into one interval of a `tseries` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TseriesAgg {
    /// No fourth argument: the value written last in the interval.
    #[default]
    Last,
    /// `"avg"`: the average of the values.
    Avg,
    /// `"max"`: the largest value.
    Max,
    /// `"min"`: the smallest value.
    Min,
    /// `"sum"`: the sum of the values.
    Sum,
}

impl TseriesAgg {
    /// The aggregation a fourth argument names (`"avg"`, `"max"`, `"min"`, `"sum"`).
    pub fn from_name(name: &str) -> Option<TseriesAgg> {
        Some(match name {
            "avg" => TseriesAgg::Avg,
            "max" => TseriesAgg::Max,
            "min" => TseriesAgg::Min,
            "sum" => TseriesAgg::Sum,
            _ => return None,
        })
    }
}

impl fmt::Display for TseriesAgg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TseriesAgg::Last => "none",
            TseriesAgg::Avg => "avg",
            TseriesAgg::Max => "max",
            TseriesAgg::Min => "min",
            TseriesAgg::Sum => "sum",
        })
    }
}

/// The value of a non-negative integer literal (durations such as `100ms` are
/// literals already, in nanoseconds).
fn literal(e: &Expr) -> Option<u64> {
    match e.kind {
        ExprKind::Int(v) => Some(v),
        _ => None,
    }
}

impl Checker<'_> {
    /// The aggregation of `tseries(args)` (the value argument already checked), or
    /// `None` after reporting what is wrong with the other arguments.
    pub(super) fn tseries_kind(&mut self, call: &Expr, args: &[Expr]) -> Option<AggKind> {
        self.tseries_unstable(call);
        let (interval, count) = (&args[1], &args[2]);
        for a in &args[1..] {
            self.expr(a);
        }
        let Some(interval_ns) = literal(interval) else {
            self.error(
                Diagnostic::error(
                    "the interval of `tseries()` must be an integer literal",
                    interval.span,
                    "expected a non-negative literal",
                )
                .with_help("write a duration such as `100ms`, `1s`, `10us` or `500ns`"),
            );
            return None;
        };
        let Some(num_intervals) = literal(count) else {
            self.error(Diagnostic::error(
                "the number of intervals of `tseries()` must be an integer literal",
                count.span,
                "expected a non-negative literal",
            ));
            return None;
        };
        if interval_ns == 0 {
            self.error(Diagnostic::error(
                "the interval of `tseries()` must be at least 1 nanosecond",
                interval.span,
                "0 provided",
            ));
            return None;
        }
        if num_intervals == 0 {
            self.error(Diagnostic::error(
                "`tseries()` must keep at least 1 interval",
                count.span,
                "0 provided",
            ));
            return None;
        }
        if num_intervals > MAX_INTERVALS {
            self.error(Diagnostic::error(
                format!("`tseries()` keeps at most {MAX_INTERVALS} intervals"),
                count.span,
                format!("{num_intervals} provided"),
            ));
            return None;
        }
        let agg = match args.get(3) {
            None => TseriesAgg::Last,
            Some(a) => {
                let found = match &a.kind {
                    ExprKind::Str(s) => {
                        let s = String::from_utf8_lossy(s);
                        TseriesAgg::from_name(&s).ok_or(Some(s.into_owned()))
                    }
                    _ => Err(None),
                };
                match found {
                    Ok(agg) => agg,
                    Err(named) => {
                        let label = match named {
                            Some(s) => format!("\"{s}\" provided"),
                            None => "expected a string literal".to_string(),
                        };
                        self.error(
                            Diagnostic::error(
                                "unknown aggregation function for `tseries()`",
                                a.span,
                                label,
                            )
                            .with_help("use one of \"avg\", \"max\", \"min\", \"sum\""),
                        );
                        return None;
                    }
                }
            }
        };
        Some(AggKind::Tseries {
            interval_ns,
            num_intervals,
            agg,
        })
    }

    /// `unstable_tseries`: off with `error`, a warning (once) unless `enable`d.
    fn tseries_unstable(&mut self, call: &Expr) {
        match self.tseries_mode.as_str() {
            "enable" => {}
            "error" => self.error(
                Diagnostic::error(
                    "`tseries()` is an unstable feature and is off",
                    call.span,
                    "unstable",
                )
                .with_help("turn it on with `config = { unstable_tseries = enable }`"),
            ),
            _ if !self.tseries_warned => {
                self.tseries_warned = true;
                self.warn(
                    Diagnostic::warning(
                        "`tseries()` is an unstable feature",
                        call.span,
                        "may change in later releases",
                    )
                    .with_help("silence this with `config = { unstable_tseries = enable }`"),
                );
            }
            _ => {}
        }
    }
}
