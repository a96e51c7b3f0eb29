#!/usr/bin/env bash
# Debian tools the tests and benchmarks start for real: mosquitto clients (end-to-end tests),
# mosquitto (reference broker), etcd (cluster tests), openssl (TLS certificates made at test time),
# ip (network namespaces of the partition test), Qpid Proton for Debian's python3 (the AMQP
# end-to-end test).
# Installed only when missing; needs root.
set -u
need=()
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
/usr/bin/python3 -c 'import proton' >/dev/null 2>&1 || need+=(python3-qpid-proton)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
