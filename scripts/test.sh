#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, clippy (warnings are errors), every test,
# and, where the raw inputs are present (../shared/data), a check that data/ equals a fresh rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/data
if [ -d "$shared" ]; then export ATLAS_NEED_PYTHON=1; fi
export ATLAS_NEED_QGIS=1
./scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets
cargo test --locked --doc
echo "== the in-process edit, upload and tile-cache suites again, on PostGIS (a database each)"
ATLAS_TEST_STORE=postgis cargo test --locked --test api -- edit:: transfer::upload:: \
  transfer::limits:: tiles::the_etag_follows_the_published_inventory tiles::files_of_the_tiles_directory

if [ -d "$shared" ]; then
  echo "== data/ equals a fresh rebuild from $shared"
  python3 scripts/build_data.py --src "$shared" --out data --check
else
  echo "== data rebuild check skipped: $shared is absent (a user's clone has none)"
fi
echo "== all checks passed"
