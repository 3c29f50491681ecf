#!/usr/bin/env bash
# Side-by-side player workload: edgecache, nginx and Varnish in front of one
# synthetic origin, all on 127.0.0.1, measured by `edgecache bench --compare`
# in interleaved rounds. Every process it starts is stopped on exit.
#
#   bench/peers.sh                      # 3 rounds, 60 s per target in total
#   DURATION=30s ROUNDS=3 bench/peers.sh
#   JSON=1 bench/peers.sh > result.json
#
# Needs go, nginx (with the slice module, as Debian builds it) and varnishd
# (`apt-get install nginx varnish`; ../shared/peers/run.sh installs them).
# The nginx and Varnish configurations are ../shared/peers/conf's, so these
# peers are configured exactly as in that benchmark.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS_DIR:-$here/../shared/peers}
DURATION=${DURATION:-60s}
ROUNDS=${ROUNDS:-3}
MEM=${MEM:-2GiB}             # edgecache memory tier; Varnish gets the same (malloc,2G)
ORIGIN_PORT=${ORIGIN_PORT:-28180}
EC_PORT=${EC_PORT:-28181}
NGINX_PORT=${NGINX_PORT:-28182}
VARNISH_PORT=${VARNISH_PORT:-28183}
EXTRA=("$@")                 # further flags for edgecache bench

run=$(mktemp -d /tmp/edgecache-peers.XXXXXX)
chmod 755 "$run" # nginx and Varnish drop privileges when started as root
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT INT TERM

server_cpu=() load_cpu=()
if (($(nproc) >= 2)) && command -v taskset >/dev/null; then
	server_cpu=(taskset -c 0) load_cpu=(taskset -c 1)
fi

for port in "$ORIGIN_PORT" "$EC_PORT" "$NGINX_PORT" "$VARNISH_PORT"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "peers.sh: 127.0.0.1:$port is already in use; stop what listens there or set the *_PORT variables" >&2
		exit 1
	fi
done

echo "building edgecache and the peers' origin" >&2
go build -C "$here" -o "$run/edgecache" ./cmd/edgecache
go build -C "$peers/origin" -o "$run/origin" .

"${load_cpu[@]}" "$run/origin" -addr "127.0.0.1:$ORIGIN_PORT" >"$run/origin.log" 2>&1 &
pids+=($!)
"${server_cpu[@]}" "$run/edgecache" serve --listen "127.0.0.1:$EC_PORT" \
	--origin "http://127.0.0.1:$ORIGIN_PORT" --mem "$MEM" --log-level warn >"$run/edgecache.log" 2>&1 &
pids+=($!)

mkdir -p "$run/nginx/tmp" "$run/nginx/cache"
if [[ $EUID == 0 ]]; then chown -R nobody:nogroup "$run/nginx/tmp" "$run/nginx/cache"; fi
sed -e "s#@RUN@#$run/nginx#g; s#@PORT@#$NGINX_PORT#g; s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
	-e 's#@SLICE_ON@##g; s#@SLICE_KEY@#$slice_range#g' "$peers/conf/nginx.conf.in" >"$run/nginx/nginx.conf"
if [[ $EUID == 0 ]]; then sed -i '1i user nobody nogroup;' "$run/nginx/nginx.conf"; fi
"${server_cpu[@]}" nginx -e "$run/nginx/error.log" -p "$run/nginx" -c "$run/nginx/nginx.conf" >"$run/nginx.log" 2>&1 &
pids+=($!)

mkdir -p "$run/varnish"
sed -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" "$peers/conf/varnish.vcl.in" >"$run/varnish/default.vcl"
jail=()
[[ $EUID == 0 ]] || jail=(-j none)
"${server_cpu[@]}" varnishd -F "${jail[@]}" -a "127.0.0.1:$VARNISH_PORT" -T none \
	-n "$run/varnish/work" -f "$run/varnish/default.vcl" -s "malloc,${MEM%iB}" >"$run/varnish.log" 2>&1 &
pids+=($!)

for port in "$ORIGIN_PORT" "$EC_PORT" "$NGINX_PORT" "$VARNISH_PORT"; do
	for i in $(seq 101); do
		curl -s -o /dev/null "http://127.0.0.1:$port/s/1K/ready" && break
		if ((i == 101)); then
			echo "peers.sh: nothing answers on 127.0.0.1:$port; logs in $run:" >&2
			tail -n 5 "$run"/*.log "$run"/nginx/error.log >&2 2>/dev/null || true
			exit 1
		fi
		sleep 0.1
	done
done
for p in "${pids[@]}"; do
	kill -0 "$p" 2>/dev/null || { echo "peers.sh: a server exited at start; logs in $run" >&2; tail -n 5 "$run"/*.log >&2; exit 1; }
done

echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%FT%TZ)" >&2
json=()
[[ -n ${JSON:-} ]] && json=(--json)
"${load_cpu[@]}" "$run/edgecache" bench \
	--target "http://127.0.0.1:$EC_PORT" --name edgecache \
	--compare "nginx=http://127.0.0.1:$NGINX_PORT" \
	--compare "varnish=http://127.0.0.1:$VARNISH_PORT" \
	--origin "http://127.0.0.1:$ORIGIN_PORT" \
	--duration "$DURATION" --rounds "$ROUNDS" "${json[@]}" "${EXTRA[@]}"
