#!/bin/sh
# Regenerates the trace-cmd files of this directory and the facts the tests compare with.
# Run as root with trace-cmd 3.1.6 (Debian 12): `sh make.sh [FILE.dat...]` (default: all).
#
# A private mount namespace hides the real /proc/kallsyms (5 MB here) behind a subset of it
# so that the files stay small. trace-cmd needs `-d --no-filter` on this kernel and leaves
# tracing_on at 0 (with -B, its instance; with -b, the new buffer size) behind: all three
# are put back after each run.
set -eu
cd "$(dirname "$0")"
out=$(pwd)
T=/sys/kernel/tracing
ksyms=$(mktemp)
grep -E ' (T|t) ' /proc/kallsyms |
    grep -E ' (_stext|_text)$|timer|tick_nohz|timeout|_fn$|wakeup$|tmrproc|randomness|writeout_period' |
    sort -u > "$ksyms"
size_kb=$(sed -e 's/.*expanded: \([0-9]*\).*/\1/' $T/buffer_size_kb)
load='cat /etc/passwd >/dev/null; head -c 30000 /dev/urandom | md5sum >/dev/null; sleep 0.3'
events='-e sched -e irq -e timer -e syscalls:sys_enter_read -e syscalls:sys_exit_read'
only=" ${*:-all} "
rec() {
    name=$1; cmd=$2; shift 2
    case "$only" in *" $name "*|" all ") ;; *) return 0 ;; esac
    rm -f "$out/$name"
    unshare -m --propagation private sh -c "mount --bind '$ksyms' /proc/kallsyms && \
        trace-cmd record -d --no-filter $* -o '$out/$name' -- sh -c '$cmd'" >/dev/null 2>&1 || true
    echo 1 > $T/tracing_on
    echo "$size_kb" > $T/buffer_size_kb
    if [ -d $T/instances/kscope_td ]; then rmdir $T/instances/kscope_td; fi
    test -s "$out/$name"
    trace-cmd report -t -i "$name" 2>/dev/null | gzip -9n > "$name.report.txt.gz"
    {
        trace-cmd dump --summary --options --flyrecord --clock -i "$name" 2>&1
        for cpu in $(trace-cmd report --cpus -i "$name" 2>/dev/null | grep -o '^ *[0-9][0-9]*'); do
            n=$(trace-cmd report --cpu "$cpu" -i "$name" 2>/dev/null |
                grep -v -e '^cpus=' -e 'EVENTS DROPPED' | wc -l)
            echo "# trace-cmd report --cpu $cpu: $n event lines"
        done
    } > "$name.dump.txt"
}
rec v7-zstd.dat "$load" $events
rec v7-none.dat "$load" $events --compression none
rec v6.dat "$load" $events --file-version 6
rec v7-zstd-2buf.dat "$load" -e sched:sched_switch -e irq -B kscope_td -e timer
rec v6-2buf.dat "$load" -e sched:sched_switch -e irq -B kscope_td -e timer --file-version 6
# Lost events: an 8 KB buffer read every 3 s under a read(2) storm.
rec v7-lost.dat 'dd if=/dev/zero of=/dev/null bs=1 count=20000' -b 8 -s 3000000 \
    -e syscalls:sys_enter_read -e syscalls:sys_exit_read -e sched:sched_switch
rm -f "$ksyms"
test -z "$(ls $T/instances)"
