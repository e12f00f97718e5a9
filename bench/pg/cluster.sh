# Sourced by bench/postgis.sh and bench/replicas.sh: a throw-away PostgreSQL 15 + PostGIS 3 cluster
# in a directory of the caller's, on a unix socket only (no port assumed free), made as
# src/store/postgis/testdb.rs makes the tests' cluster (initdb --auth=trust --username=atlas-pg;
# postgres -k <dir> -c listen_addresses=), except that PostgreSQL's durability settings are left at
# their defaults (fsync, synchronous_commit, full_page_writes on): the GeoPackage store it is
# compared with commits durably too (WAL, synchronous=FULL). As root the cluster runs as the
# unprivileged user atlas-pg (scripts/setup.sh creates it), through setpriv.
#   pg_start DIR         starts the cluster in DIR (sets pg_dir, pg_pid)
#   pg_createdb NAME     a database with the postgis extension
#   pg_url NAME          the store URL of database NAME for `tailings-atlas --store`
#   pg_settings          the durability settings in force, one line
#   pg_stop              stops the cluster (immediate), if it was started
pg_bin=${ATLAS_PG_BIN:-/usr/lib/postgresql/15/bin}
pg_user=atlas-pg
pg_dir=
pg_pid=

pg_as() { # program args...: as atlas-pg when we are root (setpriv execs: no extra process)
  local pre=()
  if [ "$(id -u)" -eq 0 ]; then
    local uid gid
    uid=$(id -u "$pg_user" 2>/dev/null) && gid=$(id -g "$pg_user") || {
      echo "running as root, and there is no user $pg_user to run PostgreSQL (scripts/setup.sh makes it)" >&2
      return 1
    }
    pre=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --)
  fi
  LC_ALL=C LANG=C exec "${pre[@]}" "$@"
}

pg_start() { # dir
  pg_dir=$1
  mkdir -p "$pg_dir"
  if [ "$(id -u)" -eq 0 ]; then chown "$pg_user:" "$pg_dir"; fi
  chmod 700 "$pg_dir"
  (pg_as "$pg_bin/initdb" --auth=trust --encoding=UTF8 --locale=C --username="$pg_user" \
    -D "$pg_dir/data") >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; return 1; }
  (cd "$pg_dir" && pg_as "$pg_bin/postgres" -D "$pg_dir/data" -k "$pg_dir" \
    -c listen_addresses= -c max_connections=200) </dev/null >"$pg_dir/log" 2>&1 &
  pg_pid=$!
  local i
  for i in $(seq 600); do
    "$pg_bin/pg_isready" -q -h "$pg_dir" -U "$pg_user" -d postgres && return 0
    kill -0 "$pg_pid" 2>/dev/null || { echo "postgres exited:" >&2; tail -20 "$pg_dir/log" >&2; return 1; }
    sleep 0.1
  done
  echo "postgres did not get ready in 60 s" >&2
  return 1
}

pg_psql() { # db, then psql args
  local db=$1; shift
  "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pg_dir" -U "$pg_user" -d "$db" "$@"
}

pg_createdb() { # name
  pg_psql postgres -c "CREATE DATABASE \"$1\"" && pg_psql "$1" -c 'CREATE EXTENSION postgis'
}

pg_url() { echo "postgresql://$pg_user@/$1?host=$pg_dir"; }

pg_settings() {
  pg_psql postgres -At -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level',
    'shared_buffers', 'max_connections')"
}

pg_stop() {
  [ -n "$pg_pid" ] || return 0
  local pm
  pm=$(head -1 "$pg_dir/data/postmaster.pid" 2>/dev/null)
  if [ -n "$pm" ]; then kill -QUIT "$pm" 2>/dev/null; fi
  local i
  for i in $(seq 50); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
  if [ -n "$pm" ]; then kill -KILL "$pm" 2>/dev/null; fi
  wait "$pg_pid" 2>/dev/null
  pg_pid=
}
