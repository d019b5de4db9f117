#!/usr/bin/env bash
# The wheels `nox -s gpu -- --here` needs on a GPU machine that reaches no package index (issue 24;
# docs/scale.md "On a GPU"). Run here, in the repository root's checkout, where pip reaches PyPI:
#
#   bash benchmarks/gpu/wheels.sh [PYTHON_VERSION]     # default 3.12, the GPU image's Python
#
# Writes .whl/ (git-ignored): GDA's five packages built from this checkout, and every package in
# benchmarks/gpu/wheels.txt (what GDA, its tests and nox need that the GPU image lacks), for that
# Python on x86_64 Linux. Refuses to write over an existing .whl/ (two versions of one package stop
# the install there): remove it yourself first.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYVER=${1:-3.12}
if [ -e .whl ]; then
    echo "wheels.sh: .whl/ exists; remove it first (rm -r .whl) so that no stale wheel travels" >&2
    exit 2
fi
tmp=$(mktemp -d .whl.partial.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
echo "wheels.sh: downloading benchmarks/gpu/wheels.txt for Python $PYVER (x86_64 Linux)"
python3 -m pip download --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    "${platforms[@]}" -d "$tmp" -r benchmarks/gpu/wheels.txt
echo "wheels.sh: building GDA's packages from this checkout"
python3 -m pip wheel --no-deps -q -w "$tmp" ./packages/gda-core ./packages/gda-vision ./packages/gda-medical \
    ./packages/gda-signal ./packages/gda-text
mv "$tmp" .whl
trap - EXIT
ls .whl | sed 's/^/  /'
du -sh .whl
