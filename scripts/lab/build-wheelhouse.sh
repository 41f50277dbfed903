#!/usr/bin/env bash
# Build the wheelhouses the roles install from (hosts need no PyPI):
#   wheelhouse/tollhouse/  the tollhouse wheel + its dependencies   -> wheelhouse/tollhouse.tar
#   wheelhouse/secantus/   the lab's MongoDB-wire server (SecantusDB) -> wheelhouse/secantus.tar
# Dependencies are resolved for the TARGET interpreter (Debian 12: CPython 3.11.2, x86_64, glibc 2.36)
# with uv, not for the controller's Python: resolving on the controller misses marker-conditional
# dependencies (redis-py needs async-timeout below 3.11.3). Each tar has a manifest (NAME.json) with
# the target Python version the roles check against the host's, and the tar's sha256.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$repo/.venv}
out=${WHEELHOUSE_DIR:-$repo/wheelhouse}
pyver=${WHEELHOUSE_PYTHON:-3.11.2}
glibc=${WHEELHOUSE_GLIBC:-2_36}
secantus_req=${SECANTUS_REQUIREMENT:-SecantusDB==0.7.0b3}
uv=$venv/bin/uv
pip=$venv/bin/pip
[[ -x $uv ]] || { echo "build-wheelhouse: $uv missing (make wheelhouse installs requirements-deploy.txt)" >&2; exit 1; }

platforms=(--platform "manylinux_${glibc}_x86_64" --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any)
abi=cp${pyver%.*}; abi=${abi/./}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

build_one() {  # NAME REQUIREMENTS-INPUT [PROJECT-WHEEL...]
  local name=$1 input=$2; shift 2
  local dir=$work/$name
  mkdir -p "$dir"
  "$uv" pip compile --quiet --no-header --no-annotate --python-version "$pyver" --python-platform "x86_64-manylinux_${glibc}" \
    "$input" -o "$dir/requirements.lock"
  "$pip" download --quiet --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp --abi "$abi" \
    "${platforms[@]}" -r "$dir/requirements.lock" -d "$dir"
  local project=()
  for wheel in "$@"; do cp "$wheel" "$dir/"; project+=("$(basename "$wheel")"); done
  # Reproducible tar: sorted names, fixed owner and mtime, so an unchanged wheelhouse keeps its sha256.
  (cd "$dir" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/$name.tar" .)
  local sha
  sha=$(sha256sum "$work/$name.tar" | cut -d' ' -f1)
  "$venv/bin/python" - "$work/$name.json" "$name" "$pyver" "$glibc" "$sha" "${project[@]}" <<'PY'
import json, sys
path, name, pyver, glibc, sha, *project = sys.argv[1:]
json.dump({"name": name, "python_version": pyver, "platform": f"manylinux_{glibc}_x86_64",
           "sha256": sha, "project_wheels": project}, open(path, "w"), indent=2)
PY
  rm -rf "${out:?}/$name"
  mv "$dir" "$out/$name"
  mv "$work/$name.tar" "$work/$name.json" "$out/"
  echo "build-wheelhouse: $out/$name.tar ($(ls "$out/$name" | grep -c '\.whl$') wheels, sha256 ${sha:0:12})"
}

# The tollhouse package itself, built from this checkout.
# SOURCE_DATE_EPOCH: reproducible zip timestamps, so an unchanged checkout gives the same wheel.
# Built from a copy of the sources, so the checkout is left without build/ or *.egg-info.
mkdir -p "$work/src"
cp -r "$repo/pyproject.toml" "$repo/services" "$work/src/"
for extra in README.md LICENSE; do [[ -e $repo/$extra ]] && cp "$repo/$extra" "$work/src/"; done
find "$work/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
SOURCE_DATE_EPOCH=315532800 "$pip" wheel --quiet --no-deps "$work/src" -w "$work/project"
project_wheel=$(ls "$work"/project/tollhouse-*.whl)
build_one tollhouse "$repo/pyproject.toml" "$project_wheel"

printf '%s\n' "$secantus_req" > "$work/secantus.in"
build_one secantus "$work/secantus.in"
