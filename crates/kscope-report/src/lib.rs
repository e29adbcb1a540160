//! Decoding trace.dat files to trace-cmd's report text, JSON and statistics (being built).
