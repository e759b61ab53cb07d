#!/usr/bin/env bash
# Runs a short real load through the proxy (real TLS, real upstream), scrapes /metrics every 2 s and plots the key
# figures as PNGs into docs/figures/. Installs Debian's python3-matplotlib when it is missing.
# Usage: bash docker/grafana/render-figures.sh [seconds (default 60)] [concurrency (default 8)]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
concurrency=${2:-8}

if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  echo "== installing python3-matplotlib (Debian package)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-matplotlib >/dev/null
fi

echo "== building"
dotnet build proxy -c Release -nologo -clp:ErrorsOnly >/dev/null
proxy="dotnet proxy/bin/Release/net10.0/secretless-proxy.dll"

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
$proxy dev-ca init --out "$work/certs" >/dev/null
$proxy dev-ca server --ca "$work/certs" --out "$work/certs" >/dev/null
$proxy dev-ca issue --ca "$work/certs" --spiffe-id spiffe://example.org/ns/payments/sa/api --out "$work/payments" >/dev/null
$proxy dev-ca issue --ca "$work/certs" --spiffe-id spiffe://example.org/ns/billing/sa/worker --out "$work/billing" >/dev/null
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/jwt.key"
echo "figures-demo-token" > "$work/token.txt"

/usr/bin/python3 docker/grafana/load_and_plot.py --work "$work" --proxy "$proxy" --seconds "$seconds" --concurrency "$concurrency" --out docs/figures
