#!/usr/bin/env bash
# Installs the real servers the integration tests run beside the testbed, from Debian's packages:
# Prometheus (model metrics, user workload monitoring) and MariaDB (model registry database).
# A no-op when they are present. Needs root (or sudo) the first time only.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
fi
echo "testbed/deps.sh: installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the package scripts from starting system services: the tests start their own.
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
