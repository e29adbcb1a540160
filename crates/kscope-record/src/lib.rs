//! Recording ftrace events from a private tracefs instance into trace.dat (being built).
