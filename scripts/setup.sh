#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine that has only Rust:
# GDAL (libgdal-dev, with PROJ, GEOS, SQLite), libsqlite3-dev, pkg-config, a C compiler, gdal-bin (ogrinfo, used by
# the tests as a real OGC API client), QGIS's Python bindings and nginx when ATLAS_NEED_QGIS=1 (the
# tests load our layers in QGIS, and run deploy/nginx.conf before two replicas), python3 when
# ATLAS_NEED_PYTHON=1 (the data rebuild check), PostgreSQL 15 with PostGIS 3 (the PostGIS store's
# tests start a throw-away cluster of their own; Debian's default cluster is not created), the user
# atlas-pg when run as root (PostgreSQL refuses to run as root), and rustfmt and clippy. Does nothing
# when all are present.
set -euo pipefail

need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if ! pkg-config --exists gdal 2>/dev/null; then need+=(libgdal-dev); fi
# The store talks to SQLite directly (rusqlite, linked to the system library GDAL also uses).
if ! pkg-config --exists sqlite3 2>/dev/null; then need+=(libsqlite3-dev); fi
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
# The PostGIS store's tests (src/store/postgis/testdb.rs) run initdb and postgres themselves.
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
if [ "${ATLAS_NEED_QGIS:-0}" = 1 ]; then
  /usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1 || need+=(python3-qgis qgis-providers)
  # The tile tests' independent readers live in a venv (below), made with the machine's python3.
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
fi
if [ "${ATLAS_NEED_PYTHON:-0}" = 1 ]; then command -v python3 >/dev/null 2>&1 || need+=(python3); fi
# The web map's end-to-end test (tests/api/webmap.rs): Debian's Chromium, driven from Node by
# playwright-core (npm ci in tests/web, below). Wanted with the rest of the test suite.
if [ "${ATLAS_NEED_QGIS:-0}" = 1 ] || [ "${ATLAS_NEED_WEB:-0}" = 1 ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi

# The replica tests (tests/api/replicas.rs) run deploy/nginx.conf in Debian's nginx.
if [ "${ATLAS_NEED_QGIS:-0}" = 1 ]; then
  [ -x /usr/sbin/nginx ] || need+=(nginx-light)
fi

# rustfmt and clippy: from rustup when Rust came from rustup, else from Debian.
for c in rustfmt clippy; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      rustup component add "$c"
    else
      need+=("$([ "$c" = clippy ] && echo rust-clippy || echo rustfmt)")
    fi
  fi
done

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "setup: these Debian packages are missing and installing them needs root or sudo: ${need[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Installing postgresql-15 must not create and start Debian's default cluster: the tests make
  # their own, and a machine's port 5432 is none of our business.
  if [[ " ${need[*]} " == *" postgresql-15 "* ]]; then
    "${sudo[@]}" mkdir -p /etc/postgresql-common
    if ! grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
      echo "create_main_cluster = false" | "${sudo[@]}" tee -a /etc/postgresql-common/createcluster.conf >/dev/null
    fi
  fi
  # Packages with a daemon (nginx) would start it on install: the tests start their own, so tell
  # invoke-rc.d not to, unless the machine already says so (containers usually do).
  policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    policy=made
  fi
  "${sudo[@]}" apt-get update -q
  status=0
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" || status=$?
  [ -n "$policy" ] && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
  [ "$status" -eq 0 ] || exit "$status"
fi

# PostgreSQL refuses to run as root; as root (CI), the tests run their cluster as atlas-pg.
if [ "$(id -u)" -eq 0 ] && ! id atlas-pg >/dev/null 2>&1; then
  echo "setup: creating the system user atlas-pg (runs the tests' PostgreSQL)" >&2
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin atlas-pg
fi

# The vector-tile tests decode tiles and read the PMTiles archive with independent readers from
# PyPI (mapbox-vector-tile, pmtiles), and the filter test checks owslib's CQL2 requests against
# shapely and pyproj, all in .venv at the repository root (tests/api/common.rs finds it).
# pyproj is also the independent reprojection that wrote tests/fixtures/crs/expected.json
# (tests/fixtures/crs/generate.py, to run again after the data change).
if [ "${ATLAS_NEED_QGIS:-0}" = 1 ]; then
  root="$(cd "$(dirname "$0")/.." && pwd)"
  venv="$root/.venv"
  if ! "$venv/bin/python" -c 'import mapbox_vector_tile, pmtiles, owslib, shapely, pyproj' >/dev/null 2>&1; then
    echo "setup: installing mapbox-vector-tile, pmtiles, owslib, shapely and pyproj into $venv" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q 'mapbox-vector-tile==2.2.0' 'pmtiles==3.8.1' \
      'owslib==0.35.0' 'shapely==2.2.0' 'pyproj==3.7.1'
  fi
fi

# Schemathesis, which the API test runs against /api on the real binary, in a venv of its own
# (its dependencies are not the tile readers').
if [ "${ATLAS_NEED_QGIS:-0}" = 1 ]; then
  root="$(cd "$(dirname "$0")/.." && pwd)"
  st="$root/.venv-schemathesis"
  if ! "$st/bin/schemathesis" --version 2>/dev/null | grep -q '4.32.5'; then
    echo "setup: installing schemathesis 4.32.5 into $st" >&2
    [ -x "$st/bin/python" ] || python3 -m venv "$st"
    "$st/bin/python" -m pip install -q 'schemathesis==4.32.5'
  fi
fi

# playwright-core for the web map's end-to-end test, at the version tests/web/package-lock.json pins.
if [ "${ATLAS_NEED_QGIS:-0}" = 1 ] || [ "${ATLAS_NEED_WEB:-0}" = 1 ]; then
  web="$(cd "$(dirname "$0")/.." && pwd)/tests/web"
  want=$(sed -n 's/.*"playwright-core": "\(.*\)".*/\1/p' "$web/package.json")
  have=$(cd "$web" && node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    echo "setup: npm ci in tests/web (playwright-core $want)" >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
