# Sourced by scripts/demo and scripts/test: installs what the project needs on a fresh machine.
#   meterline_bootstrap [system [bench]]   — "system" also installs the services the tests use,
#   "bench" the load generator of `scripts/bench api`.
# Idempotent and quick when everything is already there.

METERLINE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION="0.13.8"
# Debian package → a file it installs, used to tell whether it is there.
SYSTEM_PACKAGES=(
  "mosquitto:/usr/sbin/mosquitto"
  "mosquitto-clients:/usr/bin/mosquitto_sub"
  "postgresql:/usr/lib/postgresql"
  "socat:/usr/bin/socat"
  "chromium:/usr/bin/chromium"
  "mbpoll:/usr/bin/mbpoll"
)

_say() { printf '\033[1mmeterline:\033[0m %s\n' "$*" >&2; }

# What `scripts/bench api` needs beyond the tests' services: the HTTP load generator.
BENCH_PACKAGES=("wrk:/usr/bin/wrk")

# _install_packages WHO ENTRY...: the Debian packages of ENTRY ("package:a file it installs")
# that are missing, with apt-get when root; otherwise says what to install and fails.
_install_packages() {
  local who="$1" missing=() entry
  shift
  for entry in "$@"; do
    [ -e "${entry#*:}" ] || missing+=("${entry%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    _say "installing for $who: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || return 1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
    # the packages' own services are not needed: the tests start private instances
    service mosquitto stop >/dev/null 2>&1 || true
  else
    _say "missing for $who: ${missing[*]}"
    _say "install them with: sudo apt-get install ${missing[*]}"
    return 1
  fi
}

_install_system_packages() {
  # outside CI the tests that need a missing service say so; in CI nothing may be missing
  _install_packages "the tests" "${SYSTEM_PACKAGES[@]}" || [ "${CI:-}" != "true" ]
}

_ensure_uv() {
  if command -v uv >/dev/null 2>&1; then UV=uv; return 0; fi
  if [ -x "$HOME/.local/bin/uv" ]; then UV="$HOME/.local/bin/uv"; return 0; fi
  _say "installing uv $UV_VERSION (the Python package manager that reads uv.lock)"
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" 2>/dev/null \
    || python3 -m pip install --quiet --user --disable-pip-version-check "uv==$UV_VERSION"
  if command -v uv >/dev/null 2>&1; then UV=uv; else UV="$HOME/.local/bin/uv"; fi
}

meterline_bootstrap() {
  cd "$METERLINE_ROOT" || return 1
  if [ "${1:-}" = "system" ]; then _install_system_packages || return 1; fi
  if [ "${2:-}" = "bench" ]; then _install_packages "the API benchmark" "${BENCH_PACKAGES[@]}" || return 1; fi
  _ensure_uv || return 1
  "$UV" sync --locked --quiet || return 1
  if [ -f pwa/package.json ]; then
    if [ ! -d pwa/node_modules ] || [ pwa/package-lock.json -nt pwa/node_modules/.package-lock.json ]; then
      _say "installing the PWA's npm packages"
      # npm ci installs exactly package-lock.json; npm 11 sometimes judges a lock that lists
      # optional per-platform packages (rollup's) out of sync, so fall back to npm install,
      # which resolves the same pinned versions
      (cd pwa && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null \
        || npm install --no-audit --no-fund --loglevel=error; }) || return 1
    fi
  fi
}
