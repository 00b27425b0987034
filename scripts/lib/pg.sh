# shellcheck shell=bash
# A throwaway PostgreSQL for tests, the demo and benchmarks: initdb into a temp dir as an unprivileged
# user, trust auth on loopback, fsync off, a free port. Source this file, then:
#   pg_start        sets PG_DIR, PG_PORT, PG_CONNINFO (and exports VTSYNC_TEST_POSTGRES)
#   pg_stop         stops the server and removes its files (safe to call twice)

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || { echo "pg.sh: no PostgreSQL server binaries under /usr/lib/postgresql" >&2; return 1; }
  echo "$d"
}

# Runs a command as the unprivileged owner of the cluster (postgres refuses to run as root).
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

pg_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_start() {
  local bin port tries
  bin=$(pg_bindir) || return 1
  PG_DIR=$(mktemp -d /tmp/vtsync-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown nobody: "$PG_DIR"
  if ! pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --nosync -E UTF8 --locale=C.UTF-8 \
      >"$PG_DIR/initdb.log" 2>&1; then
    echo "pg.sh: initdb failed:" >&2; cat "$PG_DIR/initdb.log" >&2; return 1
  fi
  for tries in $(seq 1 20); do
    port=$(( 20000 + (RANDOM % 30000) ))
    pg_port_free "$port" || continue
    if pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
        -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null 2>&1; then
      PG_PORT=$port
      PG_CONNINFO="postgresql://postgres@127.0.0.1:$port/postgres"
      export PG_DIR PG_PORT PG_CONNINFO
      export VTSYNC_TEST_POSTGRES="$PG_CONNINFO"
      return 0
    fi
  done
  echo "pg.sh: PostgreSQL did not start; its log:" >&2
  cat "$PG_DIR/server.log" >&2 || true
  return 1
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
  local bin
  bin=$(pg_bindir) || true
  if [ -n "$bin" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
}
