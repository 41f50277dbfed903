#!/usr/bin/env bash
# Prepare this machine (Debian 12, root) to run podman hosts with systemd inside:
# installs podman, runc and debootstrap and writes /etc/containers/containers.conf.
# Idempotent: does nothing when everything is already in place.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
  echo "setup-machine: must run as root (installs packages, writes /etc/containers)" >&2
  exit 1
fi

missing=()
for pkg in podman runc debootstrap openssh-client; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup-machine: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

conf=/etc/containers/containers.conf
mkdir -p /etc/containers
if ! cmp -s "$here/containers.conf" "$conf"; then
  if [[ -e $conf ]]; then
    cp -p "$conf" "$conf.before-tollhouse.$(date +%s)"
    echo "setup-machine: previous $conf kept as $conf.before-tollhouse.*"
  fi
  install -m 0644 "$here/containers.conf" "$conf"
  echo "setup-machine: wrote $conf"
fi
echo "setup-machine: ok ($(podman --version), runc $(runc --version | awk 'NR==1{print $3}'))"
