//! `config()` (also `config` and `__builtin_config`): upstream's record of the
//! configuration a script runs with. kscope gives its own effective values: the
//! settings it honours as the config block set them (or their defaults), its fixed
//! limits (`max_strlen` is 64: strings live on the BPF stack), and upstream's defaults
//! for settings that mean nothing to kscope.

use super::Parser;
use crate::ast::{Config, ConfigValue, Expr, ExprKind, Ident, RecordField};
use crate::sema::HONOURED_CONFIG;
use crate::span::Span;

/// One field of the record: its value as kscope runs.
enum Field {
    Bool(bool),
    Int(u64),
    Text(&'static str),
}

/// The fields in upstream's order, with kscope's value of each when the config block
/// does not set it.
const FIELDS: &[(&str, Field)] = &[
    ("cpp_demangle", Field::Bool(true)),
    ("lazy_symbolication", Field::Bool(true)),
    ("print_maps_on_exit", Field::Bool(true)),
    ("use_blazesym", Field::Bool(true)),
    ("show_debug_info", Field::Bool(false)),
    ("log_size", Field::Int(1_000_000)),
    ("max_bpf_progs", Field::Int(1024)),
    ("max_cat_bytes", Field::Int(10240)),
    ("max_map_keys", Field::Int(4096)),
    ("max_probes", Field::Int(1024)),
    ("max_strlen", Field::Int(64)),
    ("on_stack_limit", Field::Int(32)),
    ("perf_rb_pages", Field::Int(0)),
    ("str_trunc_trailer", Field::Text("..")),
    ("unstable_import_statement", Field::Text("error")),
    ("unstable_tseries", Field::Text("warn")),
    ("unstable_typeinfo", Field::Text("error")),
    ("unstable_dw_ustack", Field::Text("error")),
    ("missing_probes", Field::Text("error")),
    ("stack_mode", Field::Text("bpftrace")),
    ("license", Field::Text("GPL")),
];

impl<'a> Parser<'a> {
    /// The record literal `config()` stands for, given the script's config block.
    pub(super) fn config_record(&mut self, config: Option<&Config>, span: Span) -> Expr {
        let mut fields = Vec::with_capacity(FIELDS.len());
        for (name, default) in FIELDS {
            let set = config
                .filter(|_| HONOURED_CONFIG.contains(name))
                .and_then(|c| c.value(name));
            let kind = match (default, set) {
                (Field::Bool(_), Some(ConfigValue::Int(n))) => ExprKind::Bool(*n != 0),
                (Field::Bool(_), Some(v)) => ExprKind::Bool(v.text() == Some("true")),
                (Field::Int(_), Some(ConfigValue::Int(n))) => ExprKind::Int(*n),
                (Field::Text(_), Some(v)) => match v.text() {
                    Some(t) => ExprKind::Str(t.to_ascii_lowercase().into_bytes()),
                    None => default_kind(default),
                },
                _ => default_kind(default),
            };
            let value = self.mk(kind, span);
            fields.push(RecordField {
                name: Ident {
                    name: (*name).to_string(),
                    span,
                },
                value,
            });
        }
        self.mk(ExprKind::Record(fields), span)
    }
}

fn default_kind(f: &Field) -> ExprKind {
    match f {
        Field::Bool(b) => ExprKind::Bool(*b),
        Field::Int(n) => ExprKind::Int(*n),
        Field::Text(t) => ExprKind::Str(t.as_bytes().to_vec()),
    }
}
