#!/usr/bin/env bash
# Runs the whole test suite N times in a row (vitest with its two workers, vitest.config.ts)
# while CPU load runs in the background, to shake out tests that only fail on a loaded
# machine. Stops at the first failing run, always stops the load, and prints "K/N runs passed".
#
#   bench/suite-under-load.sh            # 5 runs, load on 2 CPUs
#   bench/suite-under-load.sh 1          # one run
#   bench/suite-under-load.sh 3 test/crash-resume.test.ts   # extra arguments go to vitest
#
# Environment: SUITE_LOAD_CPUS (default 2; 0 = no load), SKIP_BUILD=1 (do not build dist/
# first; the end-to-end suites run the built CLI). The load is `stress --cpu N` when stress is
# installed (apt-get install -y stress), else N `node -e 'for(;;){}'` busy loops. Each run's
# output goes to the terminal and to a log file in a temporary folder named at the end.
set -u

runs=${1:-5}
shift || true
cpus=${SUITE_LOAD_CPUS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
logs=$(mktemp -d "${TMPDIR:-/tmp}/gangway-suite-under-load-XXXXXX")

load_pgid=""
stop_load() {
  if [ -n "$load_pgid" ]; then
    # The load runs in its own process group: end the group, and only it.
    kill -TERM -- "-$load_pgid" 2>/dev/null
    sleep 0.2
    kill -KILL -- "-$load_pgid" 2>/dev/null
    load_pgid=""
  fi
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT TERM

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  echo "building dist/ (SKIP_BUILD=1 skips this)"
  npm run build >"$logs/build.log" 2>&1 || { echo "build failed, see $logs/build.log"; exit 1; }
fi

if [ "$cpus" -gt 0 ]; then
  if command -v stress >/dev/null 2>&1; then
    setsid stress --cpu "$cpus" >/dev/null 2>&1 &
    echo "load: stress --cpu $cpus (process group $!)"
  else
    setsid bash -c 'for _ in $(seq "$1"); do node -e "for(;;){}" & done; wait' load "$cpus" >/dev/null 2>&1 &
    echo "load: $cpus node busy loops (process group $!)"
  fi
  load_pgid=$!
fi

passed=0
for i in $(seq "$runs"); do
  echo "=== run $i/$runs: npx vitest run $* ($(date +%H:%M:%S))"
  if npx vitest run "$@" 2>&1 | tee "$logs/run-$i.log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    passed=$((passed + 1))
  else
    stop_load
    echo "run $i failed; its output: $logs/run-$i.log"
    echo "$passed/$runs runs passed"
    exit 1
  fi
done
stop_load
echo "logs: $logs"
echo "$passed/$runs runs passed"
