#!/usr/bin/env bash
# Builds (release) and starts the service on the embedded default data in data/.
# Extra arguments go to `tailings-atlas serve`, e.g. --bind 0.0.0.0:8080 or --store /srv/atlas.gpkg.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec cargo run --release --locked -- serve "$@"
