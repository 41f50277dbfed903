#!/usr/bin/env bash
# Build the systemd host image used by the lab and by molecule, from nothing, with debootstrap.
# Cached: does nothing when the image already exists (LAB_REBUILD=1 forces a rebuild).
# Also creates the lab's ssh key pair (its public half is baked into the image).
set -euo pipefail

image=${LAB_IMAGE:-localhost/tollhouse-host:bookworm-1}
state=${LAB_STATE_DIR:-/var/lib/tollhouse-lab}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# python3-apt / python3-venv: what Ansible's apt module and the venv role need; baked in to keep
# molecule fast (the roles still declare them). Everything else comes from the roles.
include=systemd,systemd-sysv,dbus,python3,python3-apt,python3-venv,openssh-server,iproute2,procps,sudo,curl,ca-certificates

mkdir -p "$state/ssh"
chmod 0700 "$state" "$state/ssh"
if [[ ! -f $state/ssh/id_ed25519 ]]; then
  ssh-keygen -q -t ed25519 -N '' -C tollhouse-lab -f "$state/ssh/id_ed25519"
fi

if [[ ${LAB_REBUILD:-0} != 1 ]] && podman image exists "$image"; then
  echo "build-image: $image exists (cached; LAB_REBUILD=1 to rebuild)"
  exit 0
fi

work=$(mktemp -d "$state/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
echo "build-image: debootstrap bookworm from $mirror (about 2 minutes)"
debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -30 "$work/debootstrap.log" >&2
  exit 1
}
install -d -m 0700 "$rootfs/root/.ssh"
install -m 0600 "$state/ssh/id_ed25519.pub" "$rootfs/root/.ssh/authorized_keys"
: >"$rootfs/etc/machine-id"
chroot "$rootfs" systemctl enable ssh >/dev/null 2>&1
chroot "$rootfs" systemctl mask getty@tty1.service serial-getty@.service >/dev/null 2>&1
chroot "$rootfs" apt-get clean
tar --numeric-owner --xattrs -C "$rootfs" -czf "$work/rootfs.tar.gz" .
podman import \
  --change 'CMD=["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3' --change 'ENV=container=podman' \
  "$work/rootfs.tar.gz" "$image" >/dev/null
echo "build-image: built $image"
