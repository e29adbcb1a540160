//! Semantic analysis without the kernel: builtins and functions, bpftrace's integer typing,
//! map and variable types, aggregation and probe-kind rules. Kernel types come in through
//! [`TypeProvider`]; [`NoKernelTypes`] makes every kernel value [`Type::Unknown`].

mod arrays;
mod builtins;
mod check;
mod getopt;
mod meta;
mod printf;
mod provider;
mod records;
mod sizes;
mod strings;
mod structs;
mod sugar;
mod tseries;
mod typeinfo;
mod types;

pub(crate) use builtins::builtin;
pub use builtins::{
    BUILTINS, Builtin, CONFIG_KEYS, FUNCTIONS, HONOURED_CONFIG, NOT_YET, STACK_MODES, Scope,
};
pub use meta::META_FUNCTIONS;
pub use printf::{ArgKind, Conversion, conversions};
pub use provider::{Field, Lookup, NoKernelTypes, TableTypes, TypeProvider};
pub use records::merge_records;
pub use strings::{MEMCMP_MAX, STR_CAP, STRING_FUNCTIONS, byte_size, pton_bytes};
pub use tseries::TseriesAgg;
pub use types::{AggKind, BUF_MAX, Type, literal_type, merge, merge_int};

use crate::ast::{Expr, Program, Provider};
use crate::diag::Diagnostic;
use crate::span::Span;
use std::collections::BTreeMap;

/// What the checker allows.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--unsafe`: allow `system()` and `signal()`.
    pub allow_unsafe: bool,
    /// The positional parameters (`$1` is `params[0]`); integers type as `int64`, other
    /// text as `string`, a missing one as `int64` (it reads as 0).
    pub params: Vec<String>,
    /// The named options (`--name=value` or `--name`) that `getopt()` reads.
    pub named: Vec<String>,
}

/// What the checker learned about one map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapInfo {
    /// The key types (empty for a map without keys; `@m[a, b]` has two).
    pub keys: Vec<Type>,
    /// The value type (an integer, string, tuple, ... or [`Type::Agg`]).
    pub value: Type,
    /// The first place that gave the map its key types.
    pub key_span: Span,
    /// The first place that gave the map its value type.
    pub value_span: Span,
}

/// What the checker learned about one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeInfo {
    /// The providers of its attach points.
    pub providers: Vec<Provider>,
    /// Its scratch variables and their final types (by name; shadowed names merged).
    pub variables: BTreeMap<String, Type>,
}

/// A checked program: the tree plus the facts codegen needs.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The program.
    pub program: Program,
    /// The type of every expression, indexed by [`crate::ast::ExprId`].
    pub types: Vec<Type>,
    /// Every map by name (without `@`; the anonymous map is `""`).
    pub maps: BTreeMap<String, MapInfo>,
    /// One entry per probe, in program order.
    pub probes: Vec<ProbeInfo>,
    /// Warnings (the script is still valid).
    pub warnings: Vec<Diagnostic>,
    /// The spans of attach points that do not exist and that `missing_probes = warn`
    /// or `ignore` leaves out.
    pub skipped_attach_points: Vec<crate::span::Span>,
    /// The formats of the `strftime()` calls, indexed by [`Type::Timestamp`].
    pub timestamp_formats: Vec<String>,
    /// Structs and `args` used as whole values, by expression id: the record type they
    /// are stored as (one field per member, read from memory when lowered).
    pub struct_values: BTreeMap<u32, Type>,
    /// The hierarchy filters of the `cgroup_path()` calls, indexed by
    /// [`Type::CgroupPath`] (`"*"` when a call gives none).
    pub cgroup_path_filters: Vec<String>,
    /// The named options the script reads with `getopt()` (`--name` on the command line).
    pub option_names: Vec<String>,
    /// The enums of the program's values by [`Type::Enum`] id (the script's and the
    /// kernel's it uses), whose enumerators name those values when printed.
    pub enums: crate::cdefs::EnumTable,
    /// Whether the script takes `len()` of a kernel stack: then every kernel stack it
    /// takes also counts its frames (a second walk of the stack, with `bpf_get_stack`).
    pub len_of_kstack: bool,
    /// Whether the script takes `len()` of a user stack (as [`Checked::len_of_kstack`]).
    pub len_of_ustack: bool,
}

/// What to do with an attach point that does not exist or does not attach: the
/// `missing_probes` config variable (upstream's default is `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingProbes {
    /// Fail the run.
    Error,
    /// Print a warning and go on without it.
    Warn,
    /// Go on without it silently.
    Ignore,
}

impl MissingProbes {
    /// The setting by its config value.
    pub fn from_name(name: &str) -> Option<MissingProbes> {
        match name {
            "error" => Some(MissingProbes::Error),
            "warn" => Some(MissingProbes::Warn),
            "ignore" => Some(MissingProbes::Ignore),
            _ => None,
        }
    }
}

impl Checked {
    /// The type of an expression of [`Checked::program`].
    pub fn type_of(&self, e: &Expr) -> &Type {
        &self.types[e.id.0 as usize]
    }

    /// The record type a struct or `args` expression used as a whole value is stored as
    /// (see [`Checked::struct_values`]).
    pub fn struct_value(&self, e: &Expr) -> Option<&Type> {
        self.struct_values.get(&e.id.0)
    }

    /// The script's `missing_probes` setting.
    pub fn missing_probes(&self) -> MissingProbes {
        missing_probes_of(&self.program)
    }

    /// The script's `print_maps_on_exit` setting (default true).
    pub fn print_maps_on_exit(&self) -> bool {
        match self.program.config_value("print_maps_on_exit") {
            Some(crate::ast::ConfigValue::Int(n)) => *n != 0,
            Some(v) => v.text() != Some("false"),
            None => true,
        }
    }

    /// The tree as [`Program`]'s `Display` prints it, each expression followed by
    /// ` :: TYPE` (for `--dry-run` and type snapshots).
    pub fn typed_tree(&self) -> String {
        let mut out = String::new();
        let _ = crate::printer::write_tree(&mut out, &self.program, &|e| {
            Some(self.type_of(e).to_string())
        });
        out
    }
}

/// Checks a parsed program. On failure, returns the errors (then the warnings).
pub fn check(
    program: Program,
    options: &Options,
    types: &dyn TypeProvider,
) -> Result<Checked, Vec<Diagnostic>> {
    crate::stack::with_big_stack(|| check_inline(program, options, types))
}

fn check_inline(
    program: Program,
    options: &Options,
    types: &dyn TypeProvider,
) -> Result<Checked, Vec<Diagnostic>> {
    let mut program = program;
    sugar::sink_aggregations(&mut program);
    // Script structs holding kernel structs by value are laid out with BTF's sizes.
    if program.c_types.needs_kernel {
        let sizes = |name: &str| Some((types.struct_size(name)?, types.struct_align(name)?));
        program.c_types.relayout(&sizes).map_err(|d| vec![d])?;
    }
    // The script's own structs and unions answer first.
    let c_types = program.c_types.clone();
    let overlay = crate::cdefs::Overlay {
        defs: &c_types,
        inner: types,
    };
    let types: &dyn TypeProvider = &overlay;
    // The first pass learns every map's types silently, so that a map read before its
    // assignment in source order (`kretprobe` before `kprobe`) still has a type.
    let mut first = check::Checker::new(&program, options, types, BTreeMap::new(), false);
    first.program(&program);
    let hints = first.maps;
    let mut second = check::Checker::new(&program, options, types, hints, true);
    second.program(&program);
    if !second.errors.is_empty() {
        let mut all = second.errors;
        all.extend(second.warnings);
        return Err(all);
    }
    for p in &mut program.probes {
        meta::prune_comptime(&mut p.body, &second.consts);
    }
    sizes::fold(&mut program, &second.consts);
    let enums = enum_table(&c_types, types, &second);
    Ok(Checked {
        enums,
        types: second.types,
        maps: second.maps,
        probes: second.probe_infos,
        warnings: second.warnings,
        skipped_attach_points: second.skipped_attach_points,
        timestamp_formats: second.timestamp_formats,
        struct_values: second.struct_values,
        option_names: second.option_names,
        len_of_kstack: second.len_of_kstack,
        len_of_ustack: second.len_of_ustack,
        cgroup_path_filters: second.cgroup_path_filters,
        program,
    })
}

/// The script's enums and the kernel enums of the values that `checker` typed (every
/// expression, map, variable and struct read as a whole).
fn enum_table(
    c_types: &crate::cdefs::CTypes,
    types: &dyn TypeProvider,
    checker: &check::Checker<'_>,
) -> crate::cdefs::EnumTable {
    let mut ids = std::collections::BTreeSet::new();
    let mut add = |id: u32| {
        if crate::cdefs::is_kernel_enum(id) {
            ids.insert(id);
        }
    };
    let maps = checker
        .maps
        .values()
        .flat_map(|m| m.keys.iter().chain([&m.value]));
    let variables = checker
        .probe_infos
        .iter()
        .flat_map(|p| p.variables.values());
    for t in checker
        .types
        .iter()
        .chain(maps)
        .chain(variables)
        .chain(checker.struct_values.values())
    {
        crate::cdefs::enum_ids(t, &mut add);
    }
    crate::cdefs::EnumTable {
        script: c_types.enums.clone(),
        kernel: ids
            .into_iter()
            .filter_map(|id| Some((id, types.kernel_enum(id)?)))
            .collect(),
    }
}

/// `missing_probes` of `program` (checked by the type checker: an unknown value is an
/// error there, so it reads as the default here).
pub(crate) fn missing_probes_of(program: &Program) -> MissingProbes {
    program
        .config_value("missing_probes")
        .and_then(|v| v.text())
        .and_then(MissingProbes::from_name)
        .unwrap_or(MissingProbes::Error)
}
