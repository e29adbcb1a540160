#!/usr/bin/env python3
"""Render the captured corpus with trace-cmd's libtraceevent, for format_kernel.rs.

Writes one line per record (corpus order: cpu0.raw, cpu1.raw, ...; `\\` and newlines
escaped as `\\\\` and `\\n`) to stdout. Needs the system's libtraceevent (Debian:
`apt-get install libtraceevent1`); it is loaded with ctypes, nothing is linked.

    python3 libtraceevent_render.py capture > capture/tracecmd-1.7.1.txt
"""
import ctypes, glob, os, struct, sys

lib = ctypes.CDLL("libtraceevent.so.1")


class TraceSeq(ctypes.Structure):
    _fields_ = [("buffer", ctypes.c_char_p), ("buffer_size", ctypes.c_uint),
                ("len", ctypes.c_uint), ("readpos", ctypes.c_uint), ("state", ctypes.c_int)]


class Record(ctypes.Structure):
    _fields_ = [("ts", ctypes.c_ulonglong), ("offset", ctypes.c_ulonglong),
                ("missed_events", ctypes.c_longlong), ("record_size", ctypes.c_int),
                ("size", ctypes.c_int), ("data", ctypes.c_void_p), ("cpu", ctypes.c_int),
                ("ref_count", ctypes.c_int), ("locked", ctypes.c_int), ("priv", ctypes.c_void_p)]


def records(raw):
    for p in range(0, len(raw), 4096):
        page = raw[p:p + 4096]
        used = struct.unpack("<Q", page[8:16])[0] & ((1 << 27) - 1)
        data, i = page[16:16 + used], 0
        while i + 4 <= len(data):
            header = struct.unpack("<I", data[i:i + 4])[0]
            type_len = header & 31
            if type_len == 0:
                length = struct.unpack("<I", data[i + 4:i + 8])[0]
                yield data[i + 8:i + 4 + length]
                i += 4 + length
            elif type_len <= 28:
                yield data[i + 4:i + 4 + type_len * 4]
                i += 4 + type_len * 4
            elif type_len == 29:
                if header >> 5 == 0:
                    break
                i += 4 + struct.unpack("<I", data[i + 4:i + 8])[0]
            else:
                i += 8


def main(capture):
    lib.tep_alloc.restype = ctypes.c_void_p
    tep = ctypes.c_void_p(lib.tep_alloc())
    lib.tep_set_long_size(tep, 8)
    lib.tep_set_file_bigendian(tep, 0)
    lib.tep_set_local_bigendian(tep, 0)
    for path in sorted(glob.glob(os.path.join(capture, "formats", "*.format"))):
        text = open(path, "rb").read()
        system = os.path.basename(path).split("-")[0].encode()
        lib.tep_parse_event(tep, text, len(text), system)
    lib.tep_parse_kallsyms(tep, open(os.path.join(capture, "kallsyms"), "rb").read() + b"\0")
    lib.tep_parse_printk_formats(
        tep, open(os.path.join(capture, "printk_formats"), "rb").read() + b"\0")
    for raw_path in sorted(glob.glob(os.path.join(capture, "cpu*.raw"))):
        for rec in records(open(raw_path, "rb").read()):
            buf = ctypes.create_string_buffer(rec, len(rec))
            r = Record(size=len(rec), record_size=len(rec), ref_count=1, locked=1,
                       data=ctypes.cast(buf, ctypes.c_void_p))
            s = TraceSeq()
            lib.trace_seq_init(ctypes.byref(s))
            lib.tep_print_event(tep, ctypes.byref(s), ctypes.byref(r), b"%s", b"INFO")
            text = ctypes.string_at(s.buffer, s.len).decode("utf-8", "replace")
            lib.trace_seq_destroy(ctypes.byref(s))
            sys.stdout.write(text.replace("\\", "\\\\").replace("\n", "\\n") + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
