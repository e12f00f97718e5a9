#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine that has only Rust:
# GDAL (libgdal-dev, with PROJ, GEOS, SQLite), pkg-config, gdal-bin (ogrinfo, used by the tests as a
# real OGC API client), and the rustfmt and clippy components. Does nothing when all are present.
set -euo pipefail

need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if ! pkg-config --exists gdal 2>/dev/null; then need+=(libgdal-dev); fi
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
# QGIS's own OGC API client, driven headless by tests/qgis/check_layers.py (tests only).
if [ "${ATLAS_NEED_QGIS:-0}" = 1 ]; then
  /usr/bin/python3 -c 'import qgis.core' >/dev/null 2>&1 || need+=(python3-qgis qgis-providers)
fi
if [ "${ATLAS_NEED_PYTHON:-0}" = 1 ]; then command -v python3 >/dev/null 2>&1 || need+=(python3); fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
