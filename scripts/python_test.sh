#!/usr/bin/env bash
# The Python binding as its users get it: pip installs the package from
# bindings/python (building the Rust library into it) into a virtual
# environment under target/ (from a wheel built into target/wheels), and
# the tests run with that environment's
# python from outside the source tree, so that `import simplep2p` can only
# find the installed package. The environment is kept between runs (make
# clean removes it); the package is built and installed again every time.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=${VENV:-target/pyenv}
if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
fi
# A wheel, as one would build it to install elsewhere, then installed: the
# same build pip install ./bindings/python does on its own.
start=$SECONDS
rm -rf target/wheels
"$VENV/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w target/wheels ./bindings/python
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall target/wheels/simplep2p-*.whl
echo "python: built and installed $(cd target/wheels && echo simplep2p-*.whl) in $((SECONDS - start)) s"
cd "$VENV"
unset SIMPLEP2P_LIB PYTHONPATH
exec bin/python -m unittest discover -s "$REPO/tests/python" -p 'test_*.py'
