#!/usr/bin/env bash
# Builds the two distributable packages of secretless-proxy into artifacts/ (gitignored):
#   artifacts/single-file/secretless-proxy   one self-contained linux executable (PublishSingleFile, JIT; no .NET
#                                            runtime needed on the host)
#   artifacts/secretless-proxy.VERSION.nupkg the dotnet tool (needs the .NET 10 runtime):
#       dotnet tool install --global --add-source artifacts secretless-proxy
# The tool settings (and IsPackable, which the web SDK turns off) are given here, not in the csproj, so the other
# builds (the JIT build, the Native AOT sidecar build of scripts/publish-sidecar.sh) stay as they are.
# PackagingTests install both packages into a temporary folder and run --help and the demo through them.
# Usage: bash scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rid=linux-$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')
rm -rf artifacts/single-file artifacts/*.nupkg
echo "== publishing the single-file build ($rid)"
dotnet publish proxy/SecretlessProxy.csproj -c Release -r "$rid" --self-contained -p:PublishSingleFile=true \
  -o artifacts/single-file -nologo -clp:ErrorsOnly
rm -f artifacts/single-file/*.pdb artifacts/single-file/*.xml artifacts/single-file/*.staticwebassets.*
echo "== packing the dotnet tool"
dotnet pack proxy/SecretlessProxy.csproj -c Release -p:IsPackable=true -p:PackAsTool=true -p:ToolCommandName=secretless-proxy \
  -o artifacts -nologo -clp:ErrorsOnly
ls -la artifacts/single-file/secretless-proxy artifacts/*.nupkg
