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

_install_system_packages() {
  local missing=() entry pkg path
  for entry in "${SYSTEM_PACKAGES[@]}"; do
    pkg="${entry%%:*}"; path="${entry#*:}"
    [ -e "$path" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    _say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # the packages' own services are not needed: the tests start private instances
    service mosquitto stop >/dev/null 2>&1 || true
  else
    _say "the tests need these system packages: ${missing[*]}"
    _say "install them with: sudo apt-get install ${missing[*]}"
    if [ "${CI:-}" = "true" ]; then return 1; fi
  fi
}

# What `scripts/bench api` needs beyond the tests' services: the HTTP load generator.
BENCH_PACKAGES=("wrk:/usr/bin/wrk")

_install_bench_packages() {
  local missing=() entry
  for entry in "${BENCH_PACKAGES[@]}"; do
    [ -e "${entry#*:}" ] || missing+=("${entry%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    _say "installing the benchmark's packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    _say "the API benchmark needs: sudo apt-get install ${missing[*]}"
    return 1
  fi
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
  if [ "${2:-}" = "bench" ]; then _install_bench_packages || return 1; fi
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
