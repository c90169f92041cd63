#!/usr/bin/env bash
# The steady-state comparison of the README's "Beside Dovecot": imapstress
# against `make run`'s imapd, then against the private Dovecot of
# ../shared/bench, each round on fresh copies of the same 20 Maildirs.
#
#   contrib/bench/stress-vs-dovecot.sh CLIENTS [IDLE_MAX] [ROUNDS]
#
# Run from the project root, as root, after one `../shared/bench/vs-dovecot.sh`
# (which makes user1..user50 with 200 messages each on both sides and the
# Dovecot under /tmp/vs-dovecot/dovecot). IDLE_MAX is imapstress's
# -idle-max (default 500ms). For each server it prints commands/s, the
# violations, and the CPU the machine spent beside the client's (the
# server and the kernel on its behalf) per command, over 12 s in the
# middle of each 20 s run.
set -u
N=${1:?clients}; IM=${2:-500ms}; R=${3:-1}
W=/tmp/vs-dovecot; DROOT=$W/dovecot; PRIS=$W/stress-pristine; OUT=$W/stress-$(date +%Y%m%d-%H%M%S)
[ -f Makefile ] || { echo "run from the project root"; exit 1; }
[ -d "$DROOT/home/user31" ] && [ -d var/mail/user31/Maildir ] || { echo "run ../shared/bench/vs-dovecot.sh first"; exit 1; }
mkdir -p "$OUT"
go build -o "$OUT/imapstress" ./cmd/imapstress || exit 1
if [ ! -d "$PRIS" ]; then
  # The corpora vs-dovecot.sh gives user31..user50 (same seeds), made
  # afresh: no index, no sidecar, nothing an earlier round changed.
  mkdir -p "$PRIS"
  for i in $(seq 31 50); do
    "$W/imapbench" corpus -out "$PRIS/user$i" -n 200 -archive 0 -sent 0 -seed $((1000 + i)) -mbox - >/dev/null || exit 1
  done
fi
U=$(for i in $(seq 31 50); do printf 'user%d:pass,' "$i"; done); U=${U%,}
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# createcost DIR: microseconds of one file creation in DIR (median of
# 500). On ext4 it depends on where the inode allocator looks (on this
# project's machine, 4 us in some directories and over 100 in others),
# and APPEND creates a file: printed beside each server's figures.
createcost() {
  python3 - "$1" <<'PY'
import os, sys, time
d = sys.argv[1]; ts = []
for i in range(500):
    p = os.path.join(d, "createcost.%d" % i)
    t = time.perf_counter(); fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600); ts.append(time.perf_counter() - t)
    os.close(fd); os.unlink(p)
ts.sort(); print("%.0f" % (ts[len(ts) // 2] * 1e6))
PY
}
measure() { # port name round
  local f=$OUT/$2-$N-$IM-$3.txt
  "$OUT/imapstress" -addr "127.0.0.1:$1" -users "$U" -clients "$N" -duration 20s -idle-max "$IM" -examples 1 >"$f" 2>&1 & local c=$!
  sleep 4
  local b0 c0 b1 c1; b0=$(busy); c0=$(ticks $c); sleep 12; b1=$(busy); c1=$(ticks $c)
  wait $c
  local rate; rate=$(sed -n 2p "$f" | sed -E 's/.*, ([0-9.]+)\/s.*/\1/')
  printf '%s: %s commands/s, %s; server %.3f ms CPU a command, client %d%% of a core; a file creation in user31/tmp %s us\n' "$2" "$rate" \
    "$(grep '^violations' "$f")" "$(echo "($b1-$b0-($c1-$c0))*1000/$hz/($rate*12)" | bc -l)" $(( (c1-c0)*100/hz/12 )) "$4"
}
# settle: on ext4 without a journal (this project's machine) a new inode is
# not given a number freed in the last 30 s: for that long after the rm -rf
# of the last round's copies, each file creation walks past thousands of
# them (20-130 us where it is 3 us later). Wait that out before each run,
# so that neither server pays for the script's own deletions.
settle() { sync; sleep 35; }
for r in $(seq 1 "$R"); do
  echo "round $r, $N clients, -idle-max $IM"
  for i in $(seq 31 50); do rm -rf var/mail/user$i/Maildir; cp -a "$PRIS/user$i" var/mail/user$i/Maildir; done; settle
  setsid make run >"$OUT/imapd.log" 2>&1 & srv=$!
  for _ in $(seq 1 200); do port_open 1143 && break; sleep 0.2; done; sleep 2
  measure 1143 imapd "$r" "$(createcost var/mail/user31/Maildir/tmp)"
  kill -TERM -- -$srv; for _ in $(seq 1 60); do port_open 1143 || break; sleep 0.25; done
  for i in $(seq 31 50); do rm -rf "$DROOT/home/user$i/Maildir"; cp -a "$PRIS/user$i" "$DROOT/home/user$i/Maildir"; chown -R 2000:2000 "$DROOT/home/user$i"; done; settle
  ROOT=$DROOT PORT=11143 ../shared/bench/dovecot-bench.sh start >/dev/null 2>&1; sleep 2
  measure 11143 dovecot "$r" "$(createcost "$DROOT/home/user31/Maildir/tmp")"
  ROOT=$DROOT PORT=11143 ../shared/bench/dovecot-bench.sh stop >/dev/null 2>&1
done
echo "reports in $OUT"
