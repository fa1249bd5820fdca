#!/usr/bin/env bash
# Runs a throwaway local registry (Debian's docker-registry, i.e.
# distribution) for the demo.
#
#   scripts/registry.sh start DIR PORT   storage, config, log and pid file in DIR;
#                                        listens on 127.0.0.1:PORT; returns once
#                                        the registry answers
#   scripts/registry.sh stop DIR         stops the registry started with DIR
#
# Files in DIR: config.yml, data/ (the blobs), registry.log, registry.pid.
set -euo pipefail

bin=${DOCKER_REGISTRY:-/usr/bin/docker-registry}

die() { echo "registry.sh: $*" >&2; exit 1; }

usage() { die "usage: $0 start DIR PORT | stop DIR"; }

running() { [ -f "$1/registry.pid" ] && kill -0 "$(cat "$1/registry.pid")" 2>/dev/null; }

start() {
	local dir=$1 port=$2
	[[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number: $port"
	[ -x "$bin" ] || die "$bin not found (scripts/setup.sh installs docker-registry)"
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	running "$dir" && die "a registry already runs from $dir (pid $(cat "$dir/registry.pid"))"
	cat >"$dir/config.yml" <<-YAML
		version: 0.1
		log:
		  level: warn
		storage:
		  filesystem:
		    rootdirectory: $dir/data
		  delete:
		    enabled: true
		http:
		  addr: 127.0.0.1:$port
	YAML
	setsid "$bin" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
	echo $! >"$dir/registry.pid"
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "registry: listening on 127.0.0.1:$port (pid $(cat "$dir/registry.pid"), data in $dir/data)"
			return 0
		fi
		running "$dir" || { cat "$dir/registry.log" >&2; rm -f "$dir/registry.pid"; die "registry exited"; }
		sleep 0.1
	done
	stop "$dir"
	die "registry did not listen on 127.0.0.1:$port within 10 s; log: $dir/registry.log"
}

stop() {
	local dir=$1 pid
	[ -f "$dir/registry.pid" ] || die "no registry.pid in $dir"
	pid=$(cat "$dir/registry.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
	fi
	rm -f "$dir/registry.pid"
	echo "registry: stopped (pid $pid)"
}

case "${1:-}" in
start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
stop) [ $# -eq 2 ] || usage; stop "$2" ;;
*) usage ;;
esac
