#!/usr/bin/env bash
# The load test: on loopback, in one run, the same small-body GET workload through each path (direct, plain YARP,
# nginx, SecretlessProxy with OAuth2 / SigV4 / Redis), with throughput, latency percentiles, proxy CPU per request
# and ratios. Installs wrk, h2load (nghttp2-client), nginx, redis-server and python3-matplotlib when missing.
# Usage: bash loadtests/run.sh [--smoke | --quick] [--repeats N] [--soak MINUTES [--soak-only]] [--db | --db-only] [--out DIR]
#        bash loadtests/run.sh [--smoke | --quick] --platform [--no-start-or-knobs]   (wrk on every path, mTLS via a shim; start-up; knobs)
#        bash loadtests/run.sh [--smoke | --quick] --mcp-only   (tools/call through an MCP route beside the same POST through a plain route)
#        bash loadtests/run.sh [--quick] --profile                                    (perf: where the CPU goes, by layer)
#   --smoke   a few seconds per path, asserting only that each served requests without errors (the test suite runs it)
#   --quick   shorter cells, one repeat
#   --db      also the database part: pgbench through the PostgreSQL gateway, beside direct and beside pgbouncer
#             (installs postgresql and pgbouncer when missing); --db-only runs only that part
# Results: loadtests/results/loadtest-DATE.md and .csv, and latency-vs-load-DATE.png (not for --smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/debian-packages.sh

smoke=0
db=0
profile=0
http=1
out=loadtests/results
prev=""
for arg in "$@"; do
  [ "$arg" = "--smoke" ] && smoke=1
  [ "$arg" = "--db" ] && db=1
  [ "$arg" = "--profile" ] && profile=1
  if [ "$arg" = "--db-only" ]; then db=1; http=0; fi
  [ "$prev" = "--out" ] && out=$arg
  prev=$arg
done

need=()
if [ "$http" = 1 ]; then
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  command -v taskset >/dev/null 2>&1 || need+=(util-linux)
  # The platform part builds the wrk client-certificate shim.
  command -v gcc >/dev/null 2>&1 || need+=(gcc)
  if [ "$smoke" = 0 ] && ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then need+=(python3-matplotlib); fi
fi
if [ "$profile" = 1 ]; then
  command -v perf >/dev/null 2>&1 || need+=(linux-perf)
fi
if [ "$db" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || need+=(postgresql)
  [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || need+=(pgbouncer)
  command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
fi
install_debian_packages "${need[@]}"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [ "${LOADKIT_NO_BUILD:-0}" != 1 ]; then
  echo "== building (Release)"
  dotnet build proxy -c Release -nologo -clp:ErrorsOnly >/dev/null
  dotnet build loadtests/LoadKit -c Release -nologo -clp:ErrorsOnly >/dev/null
fi

echo "== cores: $(nproc) logical; $(lscpu 2>/dev/null | grep -E '^(Model name|Thread\(s\) per core|Core\(s\) per socket|NUMA node0 CPU)' | sed 's/  */ /g' | paste -sd ';' -)"
status=0
dotnet loadtests/LoadKit/bin/Release/net10.0/loadkit.dll run "$@" || status=$?

plain=1
for arg in "$@"; do case "$arg" in --platform|--profile|--soak-only|--mcp-only) plain=0 ;; esac; done
if [ "$smoke" = 0 ] && [ "$http" = 1 ] && [ "$plain" = 1 ] && [ "$status" = 0 ]; then
  # The CSV this run wrote (with --out DIR, there; never re-plot the committed results instead).
  csv=$(ls -t "$out"/loadtest-*.csv 2>/dev/null | grep -v smoke | head -1 || true)
  if [ -n "$csv" ] && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    /usr/bin/python3 loadtests/plot.py "$csv"
  fi
fi
exit $status
