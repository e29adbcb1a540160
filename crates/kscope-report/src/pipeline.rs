//! Per-CPU decoding in parallel: one thread per CPU cursor decodes its records and renders
//! each record's text into bounded batches; the calling thread merges the batches on
//! their timestamps (the k-way merge of `MergedRecords`, same order) and writes them.
//!
//! Memory is bounded: each cursor has at most [`IN_FLIGHT`] batches (plus the one being
//! filled and the one being merged) between it and the merge, batches are handed back for
//! reuse, and their size ([`BatchSize`]) shrinks as the number of cursors grows, so that
//! all of them together stay near [`TEXT_BUDGET`].

use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use kscope_ftrace::format::{EventFormat, RenderContext};
use kscope_ftrace::tracedat::read::{CpuRecords, Item, LostEvents, ReadError};

use crate::fastfmt::{CHECKS, Plan};
use crate::num::{push_i64_left, push_u64_right};
use crate::plugins::{self, Graph, Plugin};

/// The text of one batch when there are few cursors.
const BATCH_TEXT: usize = 256 << 10;
/// The text of one batch per cursor, all cursors together, when there are many.
pub(crate) const TEXT_BUDGET: usize = 4 << 20;

/// How big the batches of each cursor are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchSize {
    /// Records per batch.
    pub(crate) items: usize,
    /// Text bytes after which a batch is sent even when it has room for more records.
    pub(crate) text: usize,
}

impl BatchSize {
    /// The size for `cursors` cursors: 256 KiB of text and 2048 records each, less when
    /// there are more than 16 cursors (down to 16 KiB and 128 records).
    pub(crate) fn for_cursors(cursors: usize) -> BatchSize {
        let text = (TEXT_BUDGET / cursors.max(1)).clamp(16 << 10, BATCH_TEXT);
        BatchSize {
            items: text / 128,
            text,
        }
    }
}
/// Batches a cursor may have queued for the merge.
pub(crate) const IN_FLIGHT: usize = 4;

/// What every decoding thread needs to know about an event id.
pub(crate) struct EventInfo<'a> {
    pub(crate) format: &'a EventFormat,
    pub(crate) system: &'a str,
    pub(crate) plugin: Plugin,
    /// Whether `-F` can show it at all (false: not rendered).
    pub(crate) selected: bool,
    /// `name:` padded to 21 columns and a space.
    pub(crate) head: Box<[u8]>,
    /// A fast path for its `print fmt`.
    pub(crate) fast: Option<Plan>,
}

/// The read-only state the decoding threads share.
pub(crate) struct Shared<'a> {
    /// By event id.
    pub(crate) events: Vec<Option<EventInfo<'a>>>,
    pub(crate) ctx: &'a RenderContext,
    /// Render text (false: JSON).
    pub(crate) text: bool,
    pub(crate) nanoseconds: bool,
    /// Copy each record's payload into the batch (for `-F` and JSON).
    pub(crate) payloads: bool,
    pub(crate) batch: BatchSize,
}

impl Shared<'_> {
    pub(crate) fn event(&self, id: u32) -> Option<(&EventFormat, &EventInfo<'_>)> {
        let info = self.events.get(id as usize)?.as_ref()?;
        Some((info.format, info))
    }

    pub(crate) fn id(&self, p: &[u8]) -> u32 {
        p.get(0..2)
            .map(|b| {
                let a = [b[0], b[1]];
                u32::from(if self.ctx.big_endian {
                    u16::from_be_bytes(a)
                } else {
                    u16::from_le_bytes(a)
                })
            })
            .unwrap_or(0)
    }

    pub(crate) fn pid(&self, p: &[u8]) -> i32 {
        p.get(4..8)
            .map(|b| {
                let a = [b[0], b[1], b[2], b[3]];
                if self.ctx.big_endian {
                    i32::from_be_bytes(a)
                } else {
                    i32::from_le_bytes(a)
                }
            })
            .unwrap_or(0)
    }
}

/// One decoded record, its text in the batch's `text`.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) timestamp: u64,
    pub(crate) pid: i32,
    pub(crate) id: u32,
    /// Whether the file has a format for `id`.
    pub(crate) known: bool,
    /// `-PID [CPU] TIME: NAME: ` then the event text: `line.start..body` is the part
    /// before the event text, `body..line.end` the text.
    pub(crate) line: Range<usize>,
    pub(crate) body: usize,
    /// The payload in the batch's `data` (empty unless asked for).
    pub(crate) payload: Range<usize>,
    /// A comm trace-cmd's sched plugin learns from this record: pid, range in `text`.
    pub(crate) learned: Option<(i32, Range<usize>)>,
    pub(crate) graph: Graph,
}

/// A batch entry.
#[derive(Debug)]
pub(crate) enum Entry {
    Rec(Rec),
    Lost(LostEvents),
    Error(ReadError),
}

/// Records of one cursor, in order, with the merge key of each (the timestamp
/// `MergedRecords` would order it by).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) keys: Vec<u64>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) text: Vec<u8>,
    pub(crate) data: Vec<u8>,
}

impl Batch {
    fn clear(&mut self) {
        self.keys.clear();
        self.entries.clear();
        self.text.clear();
        self.data.clear();
    }
}

/// Decodes `cursor` into batches sent to `tx` until the data ends, an error was sent or
/// the merge hangs up. Used batches come back through `back`.
pub(crate) fn decode(
    mut cursor: CpuRecords<'_>,
    shared: &Shared<'_>,
    tx: SyncSender<Batch>,
    back: Receiver<Batch>,
) {
    let cpu = cursor.cpu();
    let mut done = false;
    // Per event id: records whose fast-path text was checked (u32::MAX: it differed).
    let mut checks = vec![0u32; shared.events.len()];
    while !done {
        let mut batch = back.try_recv().unwrap_or_default();
        batch.clear();
        while batch.entries.len() < shared.batch.items && batch.text.len() < shared.batch.text {
            let Some(key) = cursor.peek_timestamp() else {
                done = true;
                break;
            };
            let entry = match cursor.next_ref() {
                None => {
                    done = true;
                    break;
                }
                Some(Err(e)) => {
                    done = true;
                    Entry::Error(e)
                }
                Some(Ok(Item::Lost(lost))) => Entry::Lost(lost),
                Some(Ok(Item::Record(r))) => Entry::Rec(record(
                    shared,
                    cpu,
                    r.timestamp,
                    r.payload,
                    &mut batch,
                    &mut checks,
                )),
            };
            batch.keys.push(key);
            batch.entries.push(entry);
            if done {
                break;
            }
        }
        if batch.entries.is_empty() {
            break;
        }
        if tx.send(batch).is_err() {
            return;
        }
    }
}

/// Renders one record into `batch`.
fn record(
    shared: &Shared<'_>,
    cpu: u32,
    timestamp: u64,
    p: &[u8],
    batch: &mut Batch,
    checks: &mut [u32],
) -> Rec {
    let id = shared.id(p);
    let pid = shared.pid(p);
    let payload = if shared.payloads {
        let at = batch.data.len();
        batch.data.extend_from_slice(p);
        at..batch.data.len()
    } else {
        0..0
    };
    let start = batch.text.len();
    let mut rec = Rec {
        timestamp,
        pid,
        id,
        known: false,
        line: start..start,
        body: start,
        payload,
        learned: None,
        graph: Graph::No,
    };
    let Some((fmt, info)) = shared.event(id) else {
        return rec;
    };
    rec.known = true;
    if !shared.text || !info.selected {
        return rec;
    }
    let out = &mut batch.text;
    out.push(b'-');
    push_i64_left(out, i64::from(pid), 5);
    out.extend_from_slice(b" [");
    push_u64_right(out, u64::from(cpu), 3, b'0');
    out.extend_from_slice(b"] ");
    let (p10, div, prec) = if shared.nanoseconds {
        (1_000_000_000u64, 1u64, 9)
    } else {
        (1_000_000, 1000, 6)
    };
    let t = (timestamp + div / 2) / div;
    if p10 < t {
        push_u64_right(out, t / p10, 5, b' ');
        out.push(b'.');
        push_u64_right(out, t % p10, prec, b'0');
    } else {
        push_u64_right(out, t, 12, b' ');
    }
    out.extend_from_slice(b": ");
    out.extend_from_slice(&info.head);
    rec.body = out.len();
    rec.graph = plugins::graph(info.plugin, fmt, p, shared.ctx);
    match rec.graph {
        // The merge renders these: their text depends on the records around them.
        Graph::Entry { .. } | Graph::Function { .. } => {}
        Graph::Exit {
            depth, duration, ..
        } => plugins::graph_exit(out, depth, duration),
        Graph::No => {
            let check = &mut checks[id as usize];
            let fast = info.fast.as_ref().filter(|_| *check != u32::MAX);
            if plugins::render(info.plugin, fmt, p, shared.ctx, out, &mut rec.learned) {
            } else if let Some(plan) = fast
                && *check >= CHECKS
                && plan.render(p, out)
            {
            } else {
                let text = fmt.render(p, shared.ctx);
                if let Some(plan) = fast {
                    let at = out.len();
                    let same = plan.render(p, out) && &out[at..] == text.as_bytes();
                    out.truncate(at);
                    *check = if same { *check + 1 } else { u32::MAX };
                }
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    rec.line = start..out.len();
    rec
}

/// One cursor's stream of batches, as the merge sees it.
pub(crate) struct Source {
    pub(crate) buffer: usize,
    pub(crate) cpu: u32,
    rx: Receiver<Batch>,
    back: SyncSender<Batch>,
    batch: Option<Batch>,
    next: usize,
}

impl Source {
    /// A source and the channel ends its decoding thread uses.
    pub(crate) fn new(buffer: usize, cpu: u32) -> (Source, SyncSender<Batch>, Receiver<Batch>) {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let (back, back_rx) = sync_channel(IN_FLIGHT + 1);
        (
            Source {
                buffer,
                cpu,
                rx,
                back,
                batch: None,
                next: 0,
            },
            tx,
            back_rx,
        )
    }

    /// The merge key of the next entry, waiting for its batch; None at the end.
    pub(crate) fn key(&mut self) -> Option<u64> {
        loop {
            if let Some(b) = &self.batch
                && let Some(&k) = b.keys.get(self.next)
            {
                return Some(k);
            }
            if let Some(old) = self.batch.take() {
                let _ = self.back.try_send(old);
            }
            self.batch = Some(self.rx.recv().ok()?);
            self.next = 0;
        }
    }

    /// The next entry (call after [`Source::key`] returned a key).
    pub(crate) fn peek(&self) -> Option<&Entry> {
        self.batch.as_ref()?.entries.get(self.next)
    }

    /// Moves past the next entry.
    pub(crate) fn advance(&mut self) {
        self.next += 1;
    }

    /// The batch the entries point into.
    pub(crate) fn batch(&self) -> Option<&Batch> {
        self.batch.as_ref()
    }

    /// Takes the next entry out (errors are moved, not cloned).
    pub(crate) fn take_error(&mut self) -> Option<ReadError> {
        let b = self.batch.as_mut()?;
        let e = b.entries.get_mut(self.next)?;
        match std::mem::replace(e, Entry::Lost(placeholder())) {
            Entry::Error(err) => Some(err),
            other => {
                *e = other;
                None
            }
        }
    }
}

fn placeholder() -> LostEvents {
    LostEvents {
        buffer: 0,
        cpu: 0,
        timestamp: 0,
        missed: kscope_ftrace::page::Missed::Unknown,
    }
}

/// The index of the source whose next entry comes first (ties: lower buffer, then lower
/// CPU), or None when all are done.
pub(crate) fn first(sources: &mut [Source]) -> Option<usize> {
    let mut best: Option<(u64, usize, u32, usize)> = None;
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(k) = s.key() {
            let cand = (k, s.buffer, s.cpu, i);
            if best.is_none_or(|b| cand < b) {
                best = Some(cand);
            }
        }
    }
    best.map(|b| b.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_with_many_cursors() {
        let few = BatchSize::for_cursors(2);
        assert_eq!((few.items, few.text), (2048, 256 << 10));
        let many = BatchSize::for_cursors(64);
        assert_eq!((many.items, many.text), (512, 64 << 10));
        let lots = BatchSize::for_cursors(1024);
        assert_eq!((lots.items, lots.text), (128, 16 << 10));
    }
}
