#!/usr/bin/env bash
# Reproduces web/vendor/ from npm: MapLibre GL JS (the CSP build, whose worker is a file of its own, so
# the page loads nothing from a blob: URL or another origin) and the pmtiles JS library, at pinned
# versions, with their licences, and writes web/vendor/VERSIONS.md with the SHA-256 of every file.
# `npm pack` checks each tarball against the registry's integrity hash. Run from anywhere; needs npm.
# `scripts/vendor_web.sh --check` rebuilds into a temporary directory and fails if web/vendor differs.
set -euo pipefail
cd "$(dirname "$0")/.."

MAPLIBRE=5.24.1
PMTILES=4.5.0

out=web/vendor
check=0
if [ "${1:-}" = --check ]; then check=1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/vendor"
mkdir -p "$dest"

(cd "$work" && npm pack --silent "maplibre-gl@$MAPLIBRE" "pmtiles@$PMTILES" >/dev/null)
mkdir -p "$work/ml" "$work/pm"
tar -xzf "$work/maplibre-gl-$MAPLIBRE.tgz" -C "$work/ml"
tar -xzf "$work/pmtiles-$PMTILES.tgz" -C "$work/pm"

ml="$work/ml/package"
cp "$ml/dist/maplibre-gl-csp.js" "$ml/dist/maplibre-gl-csp-worker.js" "$ml/dist/maplibre-gl.css" "$dest/"
cp "$ml/LICENSE.txt" "$dest/maplibre-gl.LICENSE.txt"
cp "$work/pm/package/dist/pmtiles.js" "$dest/"
# The pmtiles npm package declares BSD-3-Clause but ships no licence file; this is the licence of
# the repository it is built from (github.com/protomaps/PMTiles, LICENSE).
grep -q '"license": "BSD-3-Clause"' "$work/pm/package/package.json"
cat > "$dest/pmtiles.LICENSE.txt" <<'LIC'
pmtiles (npm), from https://github.com/protomaps/PMTiles (js/): BSD-3-Clause.

Copyright 2021 Protomaps LLC

Redistribution and use in source and binary forms, with or without modification, are permitted
provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this list of conditions
   and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice, this list of
   conditions and the following disclaimer in the documentation and/or other materials provided
   with the distribution.

3. Neither the name of the copyright holder nor the names of its contributors may be used to
   endorse or promote products derived from this software without specific prior written
   permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR
IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND
FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR
CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER
IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF
THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
LIC

{
  echo "# Vendored web libraries"
  echo
  echo "Written by \`scripts/vendor_web.sh\` from npm; do not edit by hand."
  echo
  echo "| package | version | licence |"
  echo "|---|---|---|"
  echo "| maplibre-gl | $MAPLIBRE | BSD-3-Clause (maplibre-gl.LICENSE.txt) |"
  echo "| pmtiles | $PMTILES | BSD-3-Clause (pmtiles.LICENSE.txt) |"
  echo
  echo "| file | SHA-256 |"
  echo "|---|---|"
  (cd "$dest" && for f in $(ls | sort); do echo "| $f | $(sha256sum "$f" | cut -d' ' -f1) |"; done)
} > "$work/VERSIONS.md"
mv "$work/VERSIONS.md" "$dest/VERSIONS.md"

if [ "$check" = 1 ]; then
  diff -r "$dest" "$out" && echo "vendor_web: $out matches npm"
else
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  cp -r "$dest" "$out"
  echo "vendor_web: wrote $out (maplibre-gl $MAPLIBRE, pmtiles $PMTILES)"
fi
