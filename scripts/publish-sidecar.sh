#!/usr/bin/env bash
# Publishes the sidecar build of secretless-proxy: Native AOT, one self-contained executable, no .NET runtime needed
# on the host. Output: proxy/bin/sidecar-aot/secretless-proxy (the load test's platform part measures its start,
# memory and throughput when it is there). With --r2r, also a ReadyToRun self-contained build in proxy/bin/sidecar-r2r.
# Usage: bash scripts/publish-sidecar.sh [--r2r]
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The AOT compiler links with the system's C toolchain (clang or gcc) and zlib.
if ! command -v clang >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  . scripts/lib/debian-packages.sh
  install_debian_packages gcc zlib1g-dev
fi
rid=linux-$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')
echo "== publishing the Native AOT sidecar build ($rid)"
dotnet publish proxy/SecretlessProxy.csproj -c Release -r "$rid" -p:PublishAot=true -o proxy/bin/sidecar-aot -nologo -clp:ErrorsOnly
rm -f proxy/bin/sidecar-aot/*.pdb proxy/bin/sidecar-aot/*.dbg proxy/bin/sidecar-aot/*.xml
if [ "${1:-}" = "--r2r" ]; then
  echo "== publishing the ReadyToRun build ($rid)"
  dotnet publish proxy/SecretlessProxy.csproj -c Release -r "$rid" --self-contained -p:PublishReadyToRun=true -o proxy/bin/sidecar-r2r -nologo -clp:ErrorsOnly
fi
ls -la proxy/bin/sidecar-aot/secretless-proxy
