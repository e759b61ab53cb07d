#!/usr/bin/env bash
# Installs what the tests need (Debian's curl, openssl, redis-server, nginx, wrk and h2load, postgresql and pgbouncer, mariadb-server and sysbench, the npm oidc-provider test server, the npm AWS test servers, the MCP TypeScript SDK, the Azure Key Vault client, the YAML language server, Chromium and playwright-core) and runs every test in the solution.
# Usage: bash scripts/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/debian-packages.sh

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The shared credential cache tests run a real redis-server (the package brings redis-cli too).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# The load test's smoke mode (a test) runs nginx, wrk and h2load.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
# The PostgreSQL tests run a real postgres (initdb, postgres, pg_ctl, psql, pgbench) and pgbouncer. Debian keeps the
# server binaries under /usr/lib/postgresql/<version>/bin, not on PATH; the package's own cluster is never started.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || need+=(pgbouncer)
# The MySQL gateway tests run a real MariaDB (mariadb-install-db, mariadbd and the mariadb client); sysbench is the
# load test's MySQL client. The package's own server is never started (policy-rc.d refuses it during the install).
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
# The web console's end-to-end tests drive Debian's Chromium with Playwright (playwright-core from npm, below).
[ -x /usr/bin/chromium ] || need+=(chromium)
install_debian_packages "${need[@]}"

# The integration tests run a real OAuth2 server: oidc-provider from the npm registry, pinned by package-lock.json.
oidc=tests/SecretlessProxy.IntegrationTests/oidc
if [ ! -d "$oidc/node_modules/oidc-provider" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    install_debian_packages nodejs npm
  fi
  echo "== installing the test OAuth2 server (oidc-provider from npm)"
  (cd "$oidc" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The AWS tests run a SigV4-verifying upstream and a small STS on Node, with AWS's own @smithy/signature-v4
# (npm, pinned by package-lock.json) recomputing every signature, and s3rver (a fake S3 from npm) storing objects.
aws=tests/SecretlessProxy.IntegrationTests/aws
if [ ! -d "$aws/node_modules/@smithy/signature-v4" ] || [ ! -d "$aws/node_modules/@smithy/hash-node" ] || [ ! -d "$aws/node_modules/s3rver" ] || [ ! -d "$aws/node_modules/@aws-sdk/client-secrets-manager" ]; then
  echo "== installing the AWS test servers' packages (@smithy/signature-v4, s3rver and @aws-sdk/client-secrets-manager from npm)"
  (cd "$aws" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The Kubernetes API emulator's faithfulness check uses Kubernetes' own @kubernetes/client-node (npm, pinned by package-lock.json).
k8s=tests/SecretlessProxy.IntegrationTests/kubernetes
if [ ! -d "$k8s/node_modules/@kubernetes/client-node" ]; then
  echo "== installing the Kubernetes client for the API emulator test (@kubernetes/client-node from npm)"
  (cd "$k8s" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The Vault tests check the test project's Vault emulator with node-vault (npm, pinned by package-lock.json).
vault=tests/SecretlessProxy.IntegrationTests/vault
if [ ! -d "$vault/node_modules/node-vault" ]; then
  echo "== installing node-vault (checks the Vault emulator)"
  (cd "$vault" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The Azure Key Vault emulator's faithfulness check uses Azure's own @azure/keyvault-secrets (npm, pinned by package-lock.json).
azure=tests/SecretlessProxy.IntegrationTests/azure
if [ ! -d "$azure/node_modules/@azure/keyvault-secrets" ]; then
  echo "== installing the Azure Key Vault client for the emulator test (@azure/keyvault-secrets from npm)"
  (cd "$azure" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The MCP tests call through the proxy with the official TypeScript SDK (npm, pinned by package-lock.json).
mcp=tests/SecretlessProxy.IntegrationTests/mcp
if [ ! -d "$mcp/node_modules/@modelcontextprotocol/sdk" ]; then
  echo "== installing the MCP TypeScript SDK (@modelcontextprotocol/sdk from npm)"
  (cd "$mcp" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The web console tests drive /usr/bin/chromium with playwright-core (npm, pinned by package-lock.json; no browser download).
console=tests/SecretlessProxy.IntegrationTests/console
if [ ! -d "$console/node_modules/playwright-core" ]; then
  echo "== installing playwright-core (drives Chromium through the web console)"
  (cd "$console" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The forward-proxy tests run real Node clients through the proxy: undici's ProxyAgent and the AWS SDK for JavaScript v3
# (@aws-sdk/client-s3 with https-proxy-agent), pinned by package-lock.json.
forward=tests/SecretlessProxy.IntegrationTests/forward
if [ ! -d "$forward/node_modules/undici" ] || [ ! -d "$forward/node_modules/@aws-sdk/client-s3" ]; then
  echo "== installing the Node forward-proxy clients (undici, @aws-sdk/client-s3, https-proxy-agent from npm)"
  (cd "$forward" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The config schema is checked as editors check it, by the YAML language server of VS Code's YAML extension
# (yaml-language-server from npm, pinned by package-lock.json).
yaml=tests/SecretlessProxy.IntegrationTests/yaml
if [ ! -d "$yaml/node_modules/yaml-language-server" ]; then
  echo "== installing the YAML language server (yaml-language-server from npm)"
  (cd "$yaml" && npm ci --no-audit --no-fund --loglevel=error)
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
echo "== building"
dotnet build SecretlessProxy.sln -c Release -nologo -clp:ErrorsOnly

# The sidecar build (Native AOT): SidecarBuildTests hold it to the JIT build. Published here, before the tests run,
# so its few minutes of compiling do not share the cores with timing-sensitive tests.
bash scripts/publish-sidecar.sh
# The single-file build and the dotnet tool package (PackagingTests install and run them), for the same reason.
bash scripts/package.sh

echo "== testing"
log=$(mktemp)
status=0
dotnet test SecretlessProxy.sln -c Release --no-build -nologo --blame-hang-timeout 5m "$@" 2>&1 | tee "$log" || status=$?

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
