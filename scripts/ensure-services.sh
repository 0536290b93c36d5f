#!/usr/bin/env bash
# Make sure the test services (PostgreSQL, Redis) answer; start them if they do not.
# Under CI=true a service that cannot be started fails the run (never a skip).
set -u

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! redis_up && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 20); do redis_up && break; sleep 0.5; done
fi
if ! pg_up && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 40); do pg_up && break; sleep 0.5; done
fi

missing=()
redis_up || missing+=(redis)
pg_up || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-services: not running and could not be started: ${missing[*]}" >&2
    exit 1
  fi
  echo "ensure-services: not running: ${missing[*]} (tests that need them will be skipped)" >&2
fi
exit 0
