# Sourced by the shell scripts of bench/servers: a server started in a
# session of its own, and stopped with it.

# start_session LOG CMD...: runs CMD in a new session (its own process
# group), its output to LOG, and sets `leader` to its PID; when the script
# exits, the whole group is stopped, by its process group only.
start_session() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 &
  leader=$!
  trap 'kill -- -$leader 2>/dev/null || true' EXIT
}

# wait_for URL [SECONDS]: until URL answers, for at most SECONDS (60).
wait_for() {
  local secs=${2:-60}
  for _ in $(seq $((secs * 2))); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.5
  done
  echo "no answer from $1 within $secs s" >&2
  return 1
}
