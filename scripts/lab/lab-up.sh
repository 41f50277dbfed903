#!/usr/bin/env bash
# Start the lab's four systemd hosts (podman, network tollhouse-lab = 10.89.7.128/25), deploy
# inventories/lab with playbook.yml, run the smoke test and print how to reach the lab.
# Expects setup-machine.sh, build-image.sh and build-wheelhouse.sh to have run (make lab does that).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
image=${LAB_IMAGE:-localhost/tollhouse-host:bookworm-1}
network=${LAB_NETWORK:-tollhouse-lab}
key=${LAB_STATE_DIR:-/var/lib/tollhouse-lab}/ssh/id_ed25519
inventory=inventories/lab
started=$SECONDS

# name ip group, from the inventory (single source of truth)
mapfile -t hosts < <(ansible-inventory -i "$inventory" --list | python3 -c '
import json, sys
data = json.load(sys.stdin)
for group in ("datastore", "dashboard", "gateway", "pump"):
    for host in data.get(group, {}).get("hosts", []):
        print(host, data["_meta"]["hostvars"][host]["ansible_host"], group)
' | awk '!seen[$1]++')

if ! podman network exists "$network"; then
  podman network create --subnet 10.89.7.128/25 --gateway 10.89.7.129 "$network" >/dev/null
  echo "lab-up: created network $network (10.89.7.128/25)"
fi
for line in "${hosts[@]}"; do
  read -r name ip _ <<<"$line"
  if podman container exists "$name"; then
    podman start "$name" >/dev/null
  else
    podman run -d --name "$name" --hostname "$name" --network "$network" --ip "$ip" \
      --systemd always --label tollhouse-lab=1 "$image" /sbin/init >/dev/null
    echo "lab-up: started $name ($ip)"
  fi
done
for line in "${hosts[@]}"; do
  read -r name ip _ <<<"$line"
  for _ in $(seq 1 60); do
    ssh -q -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o ConnectTimeout=2 "root@$ip" true && break
    sleep 1
  done
done
echo "lab-up: hosts up after $((SECONDS - started)) s; deploying"

ansible-playbook -i "$inventory" playbook.yml
echo "lab-up: deployed after $((SECONDS - started)) s; smoke test"
"$(command -v python)" scripts/lab/smoke-test.py -i "$inventory"

dashboard=$(printf '%s\n' "${hosts[@]}" | awk '$3=="dashboard"{print $2; exit}')
gateway=$(printf '%s\n' "${hosts[@]}" | awk '$3=="gateway"{print $2; exit}')
email=$(ansible-inventory -i "$inventory" --host "$(printf '%s\n' "${hosts[@]}" | awk '$3=="dashboard"{print $1; exit}')" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["tollhouse_dashboard_admin_email"])')
cat <<MSG

Tollhouse lab is up ($((SECONDS - started)) s).
  Dashboard:       http://$dashboard:3000/   (user $email)
  Admin password:  $repo/credentials/lab/admin_password
  Through the gateway (the smoke test's API, upstream = the dashboard's /hello):
    curl -i http://$gateway:8080/tollhouse-smoke/hello
  ssh:   ssh -i $key root@<ip>
  Smoke test again:  .venv/bin/python scripts/lab/smoke-test.py -i $inventory
  Remove:            make lab-down
  Hosts (name, address, group):
MSG
printf '    %s\n' "${hosts[@]}"
