#!/usr/bin/env bash
# A longer run of the property-based fuzz targets in tests/api/fuzz.rs (the test command runs 200
# cases each): CASES per target (default 20000), the same seeds, through the full application.
#   scripts/fuzz.sh            # 20,000 cases per target
#   CASES=100000 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export ATLAS_FUZZ_CASES="${CASES:-20000}"
exec cargo test --locked --test api -- fuzz:: --nocapture
