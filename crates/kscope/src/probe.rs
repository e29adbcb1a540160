//! `kscope probe add|list|del`: persistent kprobes and uprobes in the group `kscope`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use kscope_ftrace::Tracefs;
use kscope_ftrace::dynevent::DynamicEvent;
use kscope_ftrace::probe::{self, ProbeDefinition, ProbeSpec};
use kscope_session::dynamic_event_owner;

use crate::cli::{ProbeAction, ProbeAddArgs, ProbeArgs, ProbeDelArgs};

/// Runs `kscope probe`.
pub fn run(args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    let (tracefs, _) = Tracefs::mount().context("finding tracefs")?;
    match &args.action {
        ProbeAction::Add(a) => add(&tracefs, a),
        ProbeAction::List => list(&tracefs),
        ProbeAction::Del(d) => del(&tracefs, d),
    }
}

fn add(tracefs: &Tracefs, args: &ProbeAddArgs) -> anyhow::Result<ExitCode> {
    let spec = ProbeSpec::parse(&args.spec, args.is_return)?;
    let definition = ProbeDefinition::build(&spec, args.name.as_deref(), &args.args)?;
    if dynamic_event_owner(&definition.name).is_some() {
        bail!(
            "the name {:?} has the form pid<N>_…, which marks the probes of a running kscope \
             (`kscope reset` removes them once pid N is gone); choose another --name",
            definition.name
        );
    }
    let event = probe::add(tracefs, &definition)?;
    let what = probe::type_name(&event);
    match &definition.resolved {
        Some(r) => println!(
            "added kscope:{} ({what} on {} at file offset {:#x}, from {})",
            event.name,
            r.name,
            r.file_offset,
            r.table.section()
        ),
        None => println!("added kscope:{} ({what})", event.name),
    }
    println!("  {}", event.line);
    println!(
        "It stays until `kscope probe del {}`. Record it with:\n  kscope record -e {} [-- COMMAND]",
        event.name,
        definition.event()
    );
    Ok(ExitCode::SUCCESS)
}

/// The owner of a session probe and whether it runs, for notes in list and del.
fn live_owner(event: &DynamicEvent) -> Option<u32> {
    dynamic_event_owner(&event.name).filter(|&pid| kscope_sys::process::pid_alive(pid))
}

fn list(tracefs: &Tracefs) -> anyhow::Result<ExitCode> {
    let events = probe::list(tracefs)?;
    if events.is_empty() {
        println!("no probes in the group kscope (add one with `kscope probe add`)");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            let mut def = probe::definition(e).to_string();
            if let Some(pid) = dynamic_event_owner(&e.name) {
                let state = if live_owner(e).is_some() {
                    "running"
                } else {
                    "gone: `kscope reset` removes it"
                };
                def.push_str(&format!("  (session of kscope pid {pid}, {state})"));
            }
            (probe::type_name(e), format!("kscope:{}", e.name), def)
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(5);
    println!("{:w0$}  {:w1$}  DEFINITION", "TYPE", "EVENT");
    for (t, n, d) in rows {
        println!("{t:w0$}  {n:w1$}  {d}");
    }
    Ok(ExitCode::SUCCESS)
}

fn del(tracefs: &Tracefs, args: &ProbeDelArgs) -> anyhow::Result<ExitCode> {
    let pattern = if args.all { None } else { args.name.as_deref() };
    let (owned, events): (Vec<DynamicEvent>, Vec<DynamicEvent>) =
        probe::matching(tracefs, pattern)?
            .into_iter()
            .partition(|e| live_owner(e).is_some());
    for e in &owned {
        eprintln!(
            "kscope probe del: left kscope:{}: it belongs to the running kscope pid {}, which removes it when it exits",
            e.name,
            live_owner(e).unwrap_or_default()
        );
    }
    if events.is_empty() {
        if owned.is_empty() {
            println!("no probes in the group kscope");
            return Ok(ExitCode::SUCCESS);
        }
        return Ok(ExitCode::from(1));
    }
    let mut failed = 0;
    for event in &events {
        match probe::delete(tracefs, event) {
            Ok(()) => println!("deleted kscope:{}", event.name),
            Err(e) => {
                failed += 1;
                eprintln!("kscope: error: {e}");
            }
        }
    }
    Ok(if failed == 0 && owned.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
