# A throw-away PostgreSQL server for the tests that need one (sourced by .ci/run).
#
# start_postgres: installs Debian's `postgresql` package when no server binaries are found
# (apt-get update once, then apt-get install -y postgresql; needs root), creates a cluster in a
# temporary directory as a non-root user (`nobody` when run as root), starts it on a Unix socket
# in that directory (no TCP: listen_addresses = '') with a free port number, and exports
# DNNC_TEST_POSTGRES_URL. stop_postgres stops it and removes the directory.

_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_pg_as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  if [ -z "$(_pg_bin)" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "postgres: no server binaries in /usr/lib/postgresql and not root: skipping the PostgreSQL tests" >&2
      return 0
    fi
    echo "postgres: installing Debian's postgresql package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local bin port
  bin="$(_pg_bin)"
  PG_TMP="$(mktemp -d "${TMPDIR:-/tmp}/dnnc-pg.XXXXXX")"
  if [ "$(id -u)" = 0 ]; then
    chown nobody "$PG_TMP"
  fi
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  _pg_as "$bin/initdb" -D "$PG_TMP/data" -A trust -U dnnc -E UTF8 >"$PG_TMP/initdb.log" 2>&1
  _pg_as "$bin/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
    -o "-k $PG_TMP -p $port -c listen_addresses=''" start >/dev/null
  export DNNC_TEST_POSTGRES_URL="postgresql://dnnc@/postgres?host=$PG_TMP&port=$port"
  echo "postgres: test server on $PG_TMP (port $port)" >&2
}

stop_postgres() {
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP/data" ]; then
    _pg_as "$(_pg_bin)/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}
