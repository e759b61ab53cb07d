#!/usr/bin/env bash
# The MySQL part of the load test: sysbench oltp_read_only against a fresh MariaDB on loopback, direct (sysbench logs
# in with the password) and through SecretlessProxy's MySQL gateway (a plain loopback listener bound to one identity:
# sysbench sends no password, the gateway logs in upstream with a file credential), the two runs interleaved, with the
# ratio gateway/direct. Installs mariadb-server and sysbench when missing. Everything on 127.0.0.1; it stops by itself.
# Usage: bash loadtests/mysql-sysbench.sh [--seconds N] [--threads N] [--repeats N] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/debian-packages.sh

seconds=20; threads=16; repeats=3; out=loadtests/results
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    --threads) threads=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

need=()
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
install_debian_packages "${need[@]}"

if [ "${LOADKIT_NO_BUILD:-0}" != 1 ]; then
  echo "== building the proxy (Release)"
  dotnet build proxy -c Release -nologo -clp:ErrorsOnly >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
dir=$(mktemp -d /tmp/secretless-sysbench-XXXXXX)
db_port=$(free_port); gw_port=$(free_port); admin_port=$(free_port)
pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
user_opt=(); [ "$(id -u)" = 0 ] && user_opt=(--user=root)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

echo "== MariaDB on 127.0.0.1:$db_port ($dir)"
mkdir -p "$dir/tmp"; mariadb-install-db --no-defaults --datadir="$dir/data" --tmpdir="$dir/tmp" --auth-root-authentication-method=normal --skip-test-db "${user_opt[@]}" >"$dir/install.log" 2>&1
mariadbd --no-defaults --datadir="$dir/data" --tmpdir="$dir/tmp" --port="$db_port" --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" \
  --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" --skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=256M \
  --max-connections=500 "${user_opt[@]}" &
pids+=($!)
for _ in $(seq 1 120); do [ -S "$dir/mysqld.sock" ] && break; sleep 0.5; done
mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e "
  CREATE DATABASE sbtest;
  CREATE USER 'sbtest'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$pw');
  GRANT ALL ON sbtest.* TO 'sbtest'@'%';"
printf '%s\n' "$pw" >"$dir/sbtest.pw"

cat >"$dir/gateway.yaml" <<YAML
listeners:
  - name: my-bench
    protocol: mysql
    url: tcp://127.0.0.1:$gw_port
    identity: bench
  - name: admin
    role: admin
    url: http://127.0.0.1:$admin_port
identities:
  bench: { spiffeId: spiffe://example.org/ns/load/sa/bench }
credentials:
  sbtest-pw: { provider: file, path: sbtest.pw }
databases:
  sbtest:
    engine: mysql
    host: 127.0.0.1
    port: $db_port
    sslmode: disable
    roles: { sbtest: { credential: sbtest-pw, user: sbtest } }
decisionLog: { sink: none }
policies:
  - name: bench-uses-sbtest
    allow: [bench]
    databases: [sbtest]
YAML
echo "== the gateway on 127.0.0.1:$gw_port"
dotnet proxy/bin/Release/net10.0/secretless-proxy.dll run --config "$dir/gateway.yaml" >"$dir/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$admin_port/healthz" >/dev/null 2>&1 && break; sleep 0.5; done

common=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-db=sbtest --mysql-user=sbtest --tables=4 --table-size=10000)
sysbench oltp_read_only "${common[@]}" --mysql-port="$db_port" --mysql-password="$pw" prepare >/dev/null
run() { # port, password (empty: none) -> tps
  local args=("${common[@]}" --mysql-port="$1" --threads="$threads" --time="$seconds" --report-interval=0)
  [ -n "$2" ] && args+=(--mysql-password="$2")
  sysbench oltp_read_only "${args[@]}" run | awk '/transactions:/ { gsub(/[()]/, "", $3); print $3 }'
}
echo "== warming the gateway"
seconds_saved=$seconds; seconds=5; run "$gw_port" "" >/dev/null; seconds=$seconds_saved

mkdir -p "$out"
report="$out/mysql-sysbench-$(date -u +%Y%m%d-%H%M%S).md"
{
  echo "# sysbench oltp_read_only: MariaDB direct vs the MySQL gateway"
  echo
  echo "$(nproc) cores; MariaDB $(mariadbd --version | awk '{print $3}'); $threads threads, ${seconds}s per run, 4 tables of 10 000 rows."
  echo
  echo "| repeat | direct tps | gateway tps | ratio |"
  echo "|---|---|---|---|"
} >"$report"
for r in $(seq 1 "$repeats"); do
  direct=$(run "$db_port" "$pw")
  gateway=$(run "$gw_port" "")
  ratio=$(python3 -c "print(f'{$gateway/$direct:.3f}')")
  echo "| $r | $direct | $gateway | $ratio |" | tee -a "$report"
done
echo "== $report"
