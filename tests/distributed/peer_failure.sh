#!/usr/bin/env bash
# A lost peer ends the job, never a hang (SPEC §7). Starts collective_loop on NP ranks with a
# collective timeout of T seconds, then kill -9 (mode kill) or kill -STOP (mode stop) the last rank,
# and checks: the job ends within T + 10 s of the signal, its output names the lost rank, and the exit
# code is SPEC §7's: 4 from our watchdog for a stopped rank; for a killed one the launcher's own
# (mpirun and srun end the job themselves: 128 + 9). Mode usr1 sends SIGUSR1 to that rank instead: every
# rank must agree to stop at the next step boundary and the job exit 3.
# usage: peer_failure.sh COLLECTIVE_LOOP kill|stop|usr1 NP T LAUNCHER [ARGS...]  (mpirun ... or srun --mpi=pmix ...;
#        "-n NP" is appended)
set -u
loop=$1 mode=$2 np=$3 timeout=$4
shift 4
mpirun=("$@")
tmp=$(mktemp -d)
cleanup() {
  if [ -n "${vpid:-}" ]; then kill -CONT "$vpid" 2>/dev/null; kill -9 "$vpid" 2>/dev/null; fi
  if [ -n "${mpid:-}" ] && kill -0 "$mpid" 2>/dev/null; then kill -9 "$mpid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

extra=()
[ "$mode" = usr1 ] && extra=(--stop-on-signal)
"${mpirun[@]}" -n "$np" "$loop" --timeout "$timeout" --pids "$tmp/pids" "${extra[@]}" >"$tmp/out" 2>&1 &
mpid=$!
for _ in $(seq 600); do
  [ -f "$tmp/pids" ] && [ "$(wc -l <"$tmp/pids")" -ge "$np" ] && break
  kill -0 "$mpid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -f "$tmp/pids" ] || [ "$(wc -l <"$tmp/pids")" -lt "$np" ]; then
  echo "FAIL: the $np ranks did not start"; cat "$tmp/out"; exit 1
fi
sleep 1  # let them loop a little
victim=$((np - 1))
vpid=$(awk -v r="$victim" '$1 == "rank" && $2 == r { print $4 }' "$tmp/pids")
case $mode in
  kill) sig=KILL ;;
  stop) sig=STOP ;;
  usr1) sig=USR1 ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac
echo "sending SIG$sig to rank $victim (pid $vpid)"
start=$(date +%s.%N)
kill -"$sig" "$vpid"
limit=$(awk -v t="$timeout" 'BEGIN { print t + 10 }')
ended=0
while :; do
  if ! kill -0 "$mpid" 2>/dev/null; then ended=1; break; fi
  now=$(date +%s.%N)
  if awk -v a="$now" -v b="$start" -v l="$limit" 'BEGIN { exit !(a - b > l) }'; then break; fi
  sleep 0.1
done
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
if [ "$ended" != 1 ]; then
  echo "FAIL: the job still runs ${elapsed} s after SIG$sig of rank $victim (limit ${limit} s)"
  cat "$tmp/out"; exit 1
fi
wait "$mpid"
rc=$?
echo "--- job output ---"; cat "$tmp/out"; echo "------------------"
echo "job ended ${elapsed} s after SIG$sig of rank $victim with exit code $rc"
fail=0
if [ "$mode" = usr1 ]; then
  if [ "$rc" != 3 ]; then echo "FAIL: expected exit code 3 after SIGUSR1, found $rc"; fail=1; fi
  n=$(grep -c "stop requested" "$tmp/out")
  if [ "$n" != "$np" ]; then echo "FAIL: $n of $np ranks logged the agreed stop"; fail=1; fi
  [ "$fail" = 0 ] && echo "PASS"
  exit "$fail"
fi
if [ "$rc" = 0 ]; then echo "FAIL: exit code 0"; fail=1; fi
if [ "$mode" = stop ] && [ "$rc" != 4 ]; then echo "FAIL: expected exit code 4 from the watchdog, found $rc"; fail=1; fi
if [ "$mode" = kill ] && [ "$rc" != 137 ]; then echo "FAIL: expected the launcher's exit code 137 (128 + SIGKILL), found $rc"; fail=1; fi
# Our watchdog says "suspected peer rank(s): 2 ..."; mpirun "process rank 2 with PID ..."; srun
# "task 2: Killed".
if ! grep -Eq "suspected peer rank\(s\):.*\b$victim\b|process rank $victim\b|task $victim: Killed" "$tmp/out"; then
  echo "FAIL: the output does not name rank $victim"; fail=1
fi
[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
