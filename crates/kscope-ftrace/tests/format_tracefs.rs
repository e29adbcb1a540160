//! Every event `format` file of the running kernel parses, and so does its `print fmt`.

use std::path::Path;

use kscope_ftrace::format::{EventFormat, HeaderEvent, HeaderPage, RenderContext};

/// Reads a tracefs file with one large read (some answer only a read at offset 0).
fn read(path: &Path) -> String {
    use std::io::Read;
    let mut file = std::fs::File::open(path).unwrap();
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        text.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(text).unwrap()
}

fn walk_formats(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(systems) = std::fs::read_dir(root) else {
        return out;
    };
    for system in systems.flatten() {
        let Ok(events) = std::fs::read_dir(system.path()) else {
            continue;
        };
        for event in events.flatten() {
            let format = event.path().join("format");
            if format.is_file() {
                out.push(format);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_format_file_of_this_kernel_parses() {
    let Some(_kernel) = kscope_testkit::require(kscope_testkit::Feature::Tracefs) else {
        return;
    };
    let tracefs = kscope_ftrace::Tracefs::require().unwrap();
    let events = tracefs.path("events");
    let root = events.as_path();
    let page = read(&root.join("header_page"));
    let page = HeaderPage::parse(&page).unwrap();
    assert_eq!(page.data.offset, 16);
    let event = read(&root.join("header_event"));
    let event = HeaderEvent::parse(&event).unwrap();
    assert_eq!(event.type_len_bits, 5);

    let files = walk_formats(root);
    assert!(files.len() > 100, "only {} format files", files.len());
    let mut failures = Vec::new();
    let ctx = RenderContext::default();
    for path in &files {
        let text = read(path);
        match EventFormat::parse(&text) {
            Ok(ev) => {
                // Rendering an all-zero record never panics.
                let record = vec![0u8; 512];
                let _ = ev.render(&record, &ctx);
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    eprintln!(
        "{} format files parsed, {} failed",
        files.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
