#!/usr/bin/env bash
# The one command that runs everything CI runs: formatting, go vet, staticcheck,
# the whole test suite with the race detector, and the demo's own tour.
# Usage: bash scripts/test.sh            (CI=true makes missing Redis/PostgreSQL fatal)
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
export RAMPART_TEST_REDIS_ADDR="${RAMPART_TEST_REDIS_ADDR:-127.0.0.1:6379}"
export RAMPART_TEST_POSTGRES_DSN="${RAMPART_TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bench/results/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "ok"

step "go vet"
go vet ./...
echo "ok"

step "staticcheck"
sc="$(go env GOPATH)/bin/staticcheck"
if [ ! -x "$sc" ] || ! "$sc" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" || true
fi
if [ -x "$sc" ]; then
  "$sc" ./...
  echo "ok"
else
  echo "staticcheck could not be installed; skipped"
fi

step "backing services (Redis ${RAMPART_TEST_REDIS_ADDR}, PostgreSQL)"
reachable() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
if ! reachable "$RAMPART_TEST_REDIS_ADDR" && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "${RAMPART_TEST_REDIS_ADDR##*:}" --save "" --appendonly no >/dev/null || true
fi
if ! reachable 127.0.0.1:5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start 2>/dev/null || true
fi
for svc in "Redis $RAMPART_TEST_REDIS_ADDR" "PostgreSQL 127.0.0.1:5432"; do
  name=${svc%% *}; addr=${svc##* }
  for _ in $(seq 1 50); do reachable "$addr" && break; sleep 0.1; done
  if reachable "$addr"; then echo "$name: reachable at $addr"
  else echo "$name: NOT reachable at $addr — tests that need it skip (and fail when CI=true)"; fi
done

step "go test -race"
go test -race -count=1 ./...

step "rampart demo --check (the README's demo, run as its own tour)"
demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
go run ./cmd/rampart demo --check --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$demo_dir"
