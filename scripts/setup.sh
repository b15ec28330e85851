#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian (bookworm) machine, as root, without Docker:
# Debian packages, TimescaleDB built from Debian's source package when the extension is missing,
# and the project's virtualenv. Safe to run again: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# chromium and its chromedriver run the console's browser tests (tests/browser) headless.
APT_PACKAGES=(postgresql postgresql-contrib cmake mosquitto mosquitto-clients dpkg-dev gcc make python3-venv
  chromium chromium-driver)

log() { printf 'setup: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_major() {
  # The server major version Debian installs (postgresql depends on postgresql-<major>).
  ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1
}

install_debian_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
  local dev
  dev="postgresql-server-dev-$(pg_major)"
  if ! dpkg-query -W -f='${Status}' "$dev" 2>/dev/null | grep -q "install ok installed"; then
    log "installing $dev"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$dev" >/dev/null
  fi
  # Debian starts a system cluster and a system broker on the default ports; IronLink runs its own
  # instances on dedicated ports, so the system ones are left alone.
}

install_timescaledb() {
  local major pgconfig libdir
  major=$(pg_major)
  pgconfig="/usr/lib/postgresql/$major/bin/pg_config"
  libdir=$("$pgconfig" --pkglibdir)
  if [ -e "$libdir/timescaledb.so" ]; then
    log "TimescaleDB present for PostgreSQL $major"
    return
  fi
  log "building TimescaleDB for PostgreSQL $major from Debian's source package"
  # A deb-src line for trixie only: source packages, never binaries, so the system's suites stay as they are.
  local src=/etc/apt/sources.list.d/ironlink-timescaledb-src.sources
  if [ ! -e "$src" ]; then
    as_root tee "$src" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  as_root apt-get update -qq
  local build
  build=$(mktemp -d)
  (
    cd "$build"
    apt-get source -qq timescaledb >/dev/null 2>&1
    cd timescaledb-*/
    ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
      -DPG_CONFIG="$pgconfig" >/dev/null
    as_root make -C build -j"$(nproc)" install >/dev/null
  )
  rm -rf "$build"
  log "TimescaleDB installed into $libdir"
}

install_python() {
  # A venv created before python3-venv was installed has a python but no pip: create it again.
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    log "creating virtualenv $VENV"
    "$PYTHON" -m venv --clear "$VENV"
  fi
  local stamp="$VENV/.installed"
  if [ -e "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt constraints.txt ]; then
    log "Python packages present"
    return
  fi
  log "installing Python packages (constraints.txt)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
}

install_debian_packages
install_timescaledb
install_python
log "done"
