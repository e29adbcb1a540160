//! `kscope run`: reads the script and hands it to kscope-runtime.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::RunArgs;

/// Runs `kscope run`.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(glob) = &args.list {
        // `-lv` parses as `-l v`: upstream's spelling of "list verbosely".
        let (verbose, glob) = match glob.as_str() {
            "v" => (true, args.program.clone()),
            "" => (args.verbose, args.program.clone()),
            g => (args.verbose, Some(g.to_string())),
        };
        let glob = glob.or_else(|| args.rest.first().cloned());
        return crate::list::run_for_pid(&crate::cli::ListArgs { verbose, glob }, args.pid);
    }
    let (name, text, params) = match &args.program {
        Some(p) => ("-e".to_string(), p.clone(), args.rest.clone()),
        None => {
            let Some((file, params)) = args.rest.split_first() else {
                anyhow::bail!("no program: give -e PROGRAM, a script FILE, or - for stdin");
            };
            let text = if file == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the script from standard input")?;
                s
            } else {
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading the script {file}"))?
            };
            (file.clone(), text, params.to_vec())
        }
    };
    // Imports are relative to the script's directory (the current one for -e and stdin).
    let dir = match &args.program {
        None if name != "-" => std::path::Path::new(&name)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| ".".into()),
        _ => ".".into(),
    };
    let src = match kscope_lang::imports::load(kscope_lang::SourceFile::new(name, text), &dir) {
        Ok(s) => s,
        Err(e) => {
            eprint!("{}", e.rendered);
            return Ok(ExitCode::from(1));
        }
    };
    // After `--`, `--name[=value]` words are getopt() options; the rest are `$1`...
    let (named, params): (Vec<String>, Vec<String>) = params
        .into_iter()
        .partition(|p| p.starts_with("--") && p.len() > 2);
    let opts = kscope_runtime::RunOptions {
        params,
        named,
        command: match &args.command {
            // Split as a shell would (quotes, backslashes), without running one.
            Some(c) => {
                let words = shlex::split(c).with_context(|| {
                    format!("-c {c:?}: unbalanced quotes or a trailing backslash")
                })?;
                anyhow::ensure!(!words.is_empty(), "-c needs a command to run");
                Some(words)
            }
            None => None,
        },
        pid: args.pid,
        format: if args.format == "json" {
            kscope_lang::output::Format::Json
        } else {
            kscope_lang::output::Format::Text
        },
        quiet: args.quiet,
        dry_run: args.dry_run,
        allow_unsafe: args.allow_unsafe,
        test: args.test,
        bench: args.bench,
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        // Block-buffered even on a terminal: the runner flushes after each batch it reads
        // from the ring (a write per line capped a burst at the speed of write(2)).
        None => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout(),
        )),
    };
    let mut err = std::io::stderr();
    match kscope_runtime::run(&src, &opts, &mut out, &mut err) {
        Ok(code) => {
            out.flush().context("writing the output")?;
            Ok(ExitCode::from(code as u8))
        }
        Err(kscope_runtime::RunError::Script(text)) => {
            eprint!("{text}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
