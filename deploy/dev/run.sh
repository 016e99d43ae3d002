#!/usr/bin/env bash
# Runs nginx + the pxe-catalog worker in the foreground on $LISTEN:$PORT (127.0.0.1:8080 unless
# told otherwise; used by `make run`).
# Everything runtime (config, socket, nginx prefix, logs, demo catalog) goes under $STATE_DIR.
# Ctrl-C (SIGINT) or SIGTERM stops both processes.
set -euo pipefail

binary=$(realpath "$1")
port=${PORT:-8080}
# The address nginx listens on: loopback unless LISTEN says otherwise (a lab bridge's address, or
# 0.0.0.0 to let other machines in). EXTRA_CONFIG: more sections of the configuration file, as
# JSON members (`make lab` adds its `dhcp` section).
listen=${LISTEN:-127.0.0.1}
state_dir=${STATE_DIR:-$(pwd)/.state}
mkdir -p "$state_dir/nginx/tmp"
state_dir=$(realpath "$state_dir")

catalog_dir=${CATALOG_DIR:-}
menu_default=local
if [ -z "$catalog_dir" ]; then
    catalog_dir="$state_dir/demo-catalog"
    rm -rf "$catalog_dir"
    # The demo's Linux container is built from Debian's kernel and busybox (fetched once); without
    # them the demo still starts, without that container.
    boot_parts="$(dirname "$0")/../../.build/boot-parts"
    "$(dirname "$0")/boot-parts.sh" "$boot_parts" \
        || echo "make run: the Linux demo container is left out (Debian's kernel and busybox could not be fetched)." >&2
    # It prints the id and path of each container that boots: the Linux one becomes the menu's
    # default, so that `make boot-demo` boots it (a QEMU machine has no local disk to fall back to).
    booting=$("$binary" demo-catalog "$catalog_dir" --boot-parts "$boot_parts")
    linux_id=$(printf '%s\n' "$booting" | awk -F '\t' '$2 ~ /\/demo-linux\.rts\.png$/ { print $1 }')
    [ -n "$linux_id" ] && menu_default=$linux_id
fi
[ -d "$catalog_dir" ] || { echo "CATALOG_DIR $catalog_dir is not a directory." >&2; exit 1; }
catalog_dir=$(realpath "$catalog_dir")

# Admin token for POSTs: ADMIN_TOKEN_FILE, or a random one made for this demo.
token_file=${ADMIN_TOKEN_FILE:-}
if [ -z "$token_file" ]; then
    token_file="$state_dir/admin-token"
    if [ ! -s "$token_file" ]; then
        (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$token_file"; echo >> "$token_file")
    fi
fi
chmod 600 "$token_file" 2>/dev/null || true
token_file=$(realpath "$token_file")

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
config="$state_dir/config.json"
cat > "$config" <<JSON
{
  "worker": { "socket": $(json_string "$state_dir/worker.sock"), "socket_mode": "0600" },
  "catalog": { "roots": [ $(json_string "$catalog_dir") ] },
  "state": { "directory": $(json_string "$state_dir/state") },
  "admin": { "token_file": $(json_string "$token_file") },
  "menu": { "default": $(json_string "$menu_default") },
  "nginx": { "listen": $(json_string "$listen:$port"), "static_root": $(json_string "$(realpath "$(dirname "$0")/../../.build/static")") }${EXTRA_CONFIG:+,
  $EXTRA_CONFIG}
}
JSON

"$binary" nginx-config --config "$config" --standalone "$state_dir/nginx" > "$state_dir/nginx/nginx.conf"
nginx -t -q -p "$state_dir/nginx" -c "$state_dir/nginx/nginx.conf"

worker_pid=""
nginx_pid=""
stop() {
    trap - INT TERM EXIT
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
    [ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    echo "pxe-catalog stopped." >&2
}
trap stop INT TERM EXIT

"$binary" serve --config "$config" &
worker_pid=$!
for _ in $(seq 100); do [ -S "$state_dir/worker.sock" ] && break; sleep 0.1; done
[ -S "$state_dir/worker.sock" ] || { echo "The worker did not create its socket." >&2; exit 1; }
nginx -p "$state_dir/nginx" -c "$state_dir/nginx/nginx.conf" &
nginx_pid=$!

cat >&2 <<TEXT

pxe-catalog is running on http://$listen:$port/  (catalog: $catalog_dir)
  curl -s http://$listen:$port/containers
  curl -s http://$listen:$port/pxe
See a machine boot from it (QEMU with Debian's iPXE; needs qemu-system-x86 and ipxe-qemu):
  make boot-demo PORT=$port
Admin token (for POSTs) is in $token_file:
  curl -s -X POST -H "Authorization: Bearer \$(cat $token_file)" http://$listen:$port/catalog/refresh
Logs: worker on this terminal, nginx in $state_dir/nginx/. Press Ctrl-C to stop.

TEXT
wait -n "$worker_pid" "$nginx_pid" || true
