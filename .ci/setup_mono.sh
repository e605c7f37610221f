#!/usr/bin/env bash
# Debian's mono C# compiler, runtime and NUnit 2.6, for tests/test_unity_core.py (the Unity
# plugin's engine-free core is compiled and tested with them). Idempotent and quiet: does nothing
# when they are already there; installs them when root; otherwise says the tests will be skipped.
set -euo pipefail

have_all() {
  command -v mcs >/dev/null 2>&1 && command -v mono >/dev/null 2>&1 && command -v nunit-console >/dev/null 2>&1 &&
    compgen -G "/usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll" >/dev/null
}

if have_all; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ci: mono/mcs/nunit missing and cannot install them (needs root and apt); the Unity core tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  mono-mcs mono-runtime nunit-console libnunit-framework2.6.3-cil >/dev/null
have_all || { echo "ci: installing mono/nunit did not provide mcs, mono and nunit-console" >&2; exit 1; }
