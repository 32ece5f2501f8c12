#!/usr/bin/env bash
# A two-node Ray cluster on this machine (a head and one worker node, both on 127.0.0.1), with token authentication,
# its own ports and its own session folder, so that it runs beside any other Ray on the machine. `stop` ends these
# two nodes and nothing else (`ray stop` would end every Ray of this user on the machine).
#
#   cluster/local-ray.sh start     start the head and the second node; prints the job address
#   cluster/local-ray.sh stop      stop both (SIGTERM to their process groups, SIGKILL after 20 s)
#   cluster/local-ray.sh status    ray status of this cluster
#
# KR_PORT   base port (default 6380); the cluster uses KR_PORT .. KR_PORT+99 (layout in cluster/README.md)
# KR_CPUS   CPUs of each node (default 1)
# KR_DIR    session folder (default /tmp/kr-$KR_PORT; keep it short, Ray's socket paths have a length limit)
set -euo pipefail

P=${KR_PORT:-6380}
CPUS=${KR_CPUS:-1}
DIR=${KR_DIR:-/tmp/kr-$P}
export RAY_AUTH_MODE=token RAY_USAGE_STATS_ENABLED=${RAY_USAGE_STATS_ENABLED:-0}

started() {  # started head|node SECONDS: wait until the node's `ray start` says so; 1 if it died or timed out
    local i
    for ((i = 0; i < $2 * 2; i++)); do
        if grep -q "Ray runtime started" "$DIR/$1.log" 2>/dev/null; then return 0; fi
        alive "$1" || return 1
        sleep 0.5
    done
    return 1
}

launch() {  # launch head|node ARGS...: `ray start --block` in its own process group (setsid), up to 3 tries
    local name=$1 try
    shift
    for try in 1 2 3; do
        setsid ray start --block "$@" >"$DIR/$name.log" 2>&1 &
        echo $! >"$DIR/$name.pid"
        if started "$name" 180; then return 0; fi
        # Ray gives a raylet a fixed 30 s to register; on a loaded machine that can run out once.
        echo "local-ray: the $name did not start (try $try of 3; $DIR/$name.log)" >&2
        stop_group "$name"
    done
    return 1
}

alive() { [ -s "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

stop_group() {  # stop_group head|node
    alive "$1" || { rm -f "$DIR/$1.pid"; return 0; }
    local pid i
    pid=$(cat "$DIR/$1.pid")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    sleep 1  # the node's raylet and GCS end on their own after `ray start --block`; what is left is killed
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$DIR/$1.pid"
}

case "${1:-}" in
start)
    if alive head; then
        echo "local-ray: already running (head pid $(cat "$DIR/head.pid")); stop it first: $0 stop" >&2
        exit 1
    fi
    mkdir -p "$DIR"
    # The token lives in ~/.ray/auth_token: made once, never printed.
    [ -n "${RAY_AUTH_TOKEN:-}" ] || [ -s "$HOME/.ray/auth_token" ] || ray get-auth-token --generate >/dev/null
    # Each node is `ray start --block` in its own process group (setsid): stopping the group stops that node only.
    launch head --head --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1 --include-dashboard=true \
        --port="$P" --dashboard-port=$((P + 1)) --ray-client-server-port=$((P + 2)) \
        --node-manager-port=$((P + 3)) --object-manager-port=$((P + 4)) --metrics-export-port=$((P + 5)) \
        --runtime-env-agent-port=$((P + 6)) --dashboard-agent-listen-port=$((P + 7)) \
        --dashboard-agent-grpc-port=$((P + 8)) --min-worker-port=$((P + 20)) --max-worker-port=$((P + 59)) \
        --num-cpus="$CPUS" --temp-dir="$DIR/ray" || exit 1
    launch node --address="127.0.0.1:$P" --node-ip-address=127.0.0.1 \
        --node-manager-port=$((P + 10)) --object-manager-port=$((P + 11)) --metrics-export-port=$((P + 12)) \
        --runtime-env-agent-port=$((P + 13)) --dashboard-agent-listen-port=$((P + 14)) \
        --dashboard-agent-grpc-port=$((P + 15)) --min-worker-port=$((P + 60)) --max-worker-port=$((P + 99)) \
        --num-cpus="$CPUS" || { stop_group head; exit 1; }
    echo "local-ray: head 127.0.0.1:$P and a second node, ${CPUS} CPU(s) each; jobs: http://127.0.0.1:$((P + 1)); logs: $DIR"
    ;;
stop)
    stop_group node
    stop_group head
    echo "local-ray: stopped the cluster on 127.0.0.1:$P"
    ;;
status)
    ray status --address="127.0.0.1:$P"
    ;;
*)
    echo "usage: $0 start|stop|status   (KR_PORT=$P KR_CPUS=$CPUS KR_DIR=$DIR)" >&2
    exit 2
    ;;
esac
