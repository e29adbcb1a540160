//! Running the recursive passes on a thread with a large stack.
//!
//! The parser and the checker recurse once per nesting level (bounded by the parser's
//! depth limit). Unoptimized builds use tens of kilobytes of stack per level, more than a
//! default 2 MiB thread has; a dedicated thread with a 64 MiB stack (committed only as it is
//! touched) makes the depth limit, not the caller's stack, the bound.

/// Stack size of the pass thread.
const STACK: usize = 64 << 20;

thread_local! {
    /// Set on the pass thread, so that nested calls run inline.
    static ON_BIG_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a thread with a large stack (inline when already on one, or when no thread
/// can be started).
pub(crate) fn with_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if ON_BIG_STACK.with(|b| b.get()) {
        return f();
    }
    let mut f = Some(f);
    let out = std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("kscope-lang".into())
            .stack_size(STACK)
            .spawn_scoped(s, || {
                ON_BIG_STACK.with(|b| b.set(true));
                (f.take().expect("not run yet"))()
            });
        spawned.ok().map(|h| match h.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    });
    match out {
        Some(v) => v,
        None => (f.take().expect("the thread did not start"))(),
    }
}
