//! Reading trace.dat files (being built).
