#!/usr/bin/env bash
# `make dev`: Redis, a MongoDB-wire server and the three services on loopback, for quick work.
# Everything lives in .dev/ (gitignored): generated secrets, configs, data, logs and pid files.
# `make dev-down` stops exactly the processes whose pid files are there.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=.dev
BIN=.venv/bin
REDIS_PORT=${DEV_REDIS_PORT:-6390}
MONGO_PORT=${DEV_MONGO_PORT:-27027}
GATEWAY_PORT=${DEV_GATEWAY_PORT:-8080}
DASHBOARD_PORT=${DEV_DASHBOARD_PORT:-3000}
PUMP_PORT=${DEV_PUMP_PORT:-8083}

start() {  # name port command...
    local name=$1 port=$2; shift 2
    if [ -f "$DEV/$name.pid" ] && kill -0 "$(cat "$DEV/$name.pid")" 2>/dev/null; then
        echo "  $name already running (pid $(cat "$DEV/$name.pid"))"; return
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port (for $name) is taken by another program; set DEV_${name^^}_PORT" >&2; exit 1
    fi
    setsid "$@" >>"$DEV/logs/$name.log" 2>&1 < /dev/null &
    echo $! > "$DEV/$name.pid"
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "  $name on 127.0.0.1:$port"; return; }
        kill -0 "$(cat "$DEV/$name.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name did not start; last lines of $DEV/logs/$name.log:" >&2; tail -20 "$DEV/logs/$name.log" >&2; exit 1
}

secrets() {  # generated once, reused: the admin exists in the dev database from the first start on
    umask 077
    [ -f "$DEV/secrets" ] || $BIN/python - > "$DEV/secrets" <<'PY'
import secrets, bcrypt
password = secrets.token_urlsafe(18)
print(f"ADMIN_PASSWORD={password}")
print(f"ADMIN_PASSWORD_HASH='{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}'")
print(f"NODE_SECRET={secrets.token_hex(32)}")
print(f"GATEWAY_SECRET={secrets.token_hex(32)}")
PY
    # Added later: appended to an existing .dev/secrets, so keys already stored in Redis keep their hashes.
    grep -q '^KEY_HASH_SECRET=' "$DEV/secrets" \
        || echo "KEY_HASH_SECRET=$($BIN/python -c 'import secrets; print(secrets.token_hex(32))')" >> "$DEV/secrets"
}

up() {
    mkdir -p "$DEV/logs" "$DEV/redis" "$DEV/mongo"
    secrets
    # shellcheck disable=SC1091
    source "$DEV/secrets"
    cat > "$DEV/dashboard.toml" <<TOML
listen_address = "127.0.0.1"
listen_port = $DASHBOARD_PORT
mongo_url = "mongodb://127.0.0.1:$MONGO_PORT/"
redis_url = "redis://127.0.0.1:$REDIS_PORT/0"
node_secret = "$NODE_SECRET"
key_hash_secret = "$KEY_HASH_SECRET"
org_name = "Dev"
admin_email = "admin@tollhouse.test"
admin_password_hash = "$ADMIN_PASSWORD_HASH"
log_format = "text"
TOML
    cat > "$DEV/gateway.toml" <<TOML
listen_address = "127.0.0.1"
listen_port = $GATEWAY_PORT
dashboard_url = "http://127.0.0.1:$DASHBOARD_PORT"
node_secret = "$NODE_SECRET"
secret = "$GATEWAY_SECRET"
key_hash_secret = "$KEY_HASH_SECRET"
redis_url = "redis://127.0.0.1:$REDIS_PORT/0"
log_format = "text"
TOML
    cat > "$DEV/pump.toml" <<TOML
redis_url = "redis://127.0.0.1:$REDIS_PORT/0"
mongo_url = "mongodb://127.0.0.1:$MONGO_PORT/"
purge_delay = 1
health_address = "127.0.0.1"
health_port = $PUMP_PORT
pump_id = "dev"
log_format = "text"
TOML
    echo "starting the dev stack (logs in $DEV/logs):"
    start redis "$REDIS_PORT" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/$DEV/redis" --save "" --appendonly no
    start mongo "$MONGO_PORT" $BIN/secantusd-py --host 127.0.0.1 --port "$MONGO_PORT" --storage-path "$PWD/$DEV/mongo" --standalone --log-level WARNING
    start dashboard "$DASHBOARD_PORT" $BIN/tollhouse-dashboard --config "$DEV/dashboard.toml"
    start gateway "$GATEWAY_PORT" $BIN/tollhouse-gateway --config "$DEV/gateway.toml"
    start pump "$PUMP_PORT" $BIN/tollhouse-pump --config "$DEV/pump.toml"
    cat > "$DEV/env" <<ENV
GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT
DASHBOARD_URL=http://127.0.0.1:$DASHBOARD_PORT
PUMP_URL=http://127.0.0.1:$PUMP_PORT
GATEWAY_SECRET=$GATEWAY_SECRET
NODE_SECRET=$NODE_SECRET
KEY_HASH_SECRET=$KEY_HASH_SECRET
ADMIN_USER=admin@tollhouse.test
ADMIN_PASSWORD=$ADMIN_PASSWORD
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT/
ENV
    cat <<MSG

Tollhouse dev stack is up (settings for scripts: $DEV/env).
  dashboard  http://127.0.0.1:$DASHBOARD_PORT   (API docs: /docs)
  gateway    http://127.0.0.1:$GATEWAY_PORT
  admin      admin@tollhouse.test / $ADMIN_PASSWORD

Publish the dashboard's own health through the gateway:
  source $DEV/env
  TOKEN=\$(curl -s -X POST \$DASHBOARD_URL/api/login -H 'content-type: application/json' \\
      -d "{\"username\": \"\$ADMIN_USER\", \"password\": \"\$ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X POST \$DASHBOARD_URL/api/apis -H "authorization: \$TOKEN" -H 'content-type: application/json' \\
      -d "{\"api_definition\": {\"name\": \"health\", \"use_keyless\": true, \"proxy\": {\"listen_path\": \"/test_health_check/\", \"target_url\": \"\$DASHBOARD_URL/\", \"strip_listen_path\": true}}}"
  curl -i \$GATEWAY_URL/test_health_check/hello
Stop it with: make dev-down
MSG
}

down() {
    [ -d "$DEV" ] || return 0
    for name in pump gateway dashboard mongo redis; do
        pidfile="$DEV/$name.pid"
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
            echo "stopped $name (pid $pid)"
        fi
        rm -f "$pidfile"
    done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
