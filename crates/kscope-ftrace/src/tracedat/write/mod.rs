//! Writing trace.dat files (being built).
