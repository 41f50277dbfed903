#!/usr/bin/env bash
# Remove what `make lab` made: the lab's containers and network. LAB_PURGE=1 also removes the host
# image and the lab's ssh key (the containers.conf and apt packages stay: other projects may use them).
set -euo pipefail
network=${LAB_NETWORK:-tollhouse-lab}
image=${LAB_IMAGE:-localhost/tollhouse-host:bookworm-1}
state=${LAB_STATE_DIR:-/var/lib/tollhouse-lab}
command -v podman >/dev/null || { echo "lab-down: podman not installed, nothing to do"; exit 0; }
mapfile -t containers < <(podman ps -a --filter label=tollhouse-lab=1 --format '{{.Names}}')
if ((${#containers[@]})); then
  podman rm -f -t 5 "${containers[@]}" >/dev/null
  echo "lab-down: removed ${containers[*]}"
fi
if podman network exists "$network"; then
  podman network rm "$network" >/dev/null
  echo "lab-down: removed network $network"
fi
if [[ ${LAB_PURGE:-0} == 1 ]]; then
  podman image exists "$image" && podman rmi "$image" >/dev/null && echo "lab-down: removed image $image"
  rm -rf "$state" && echo "lab-down: removed $state"
fi
echo "lab-down: done (credentials/lab/ kept: delete it to get new secrets next time)"
