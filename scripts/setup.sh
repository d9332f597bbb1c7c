#!/usr/bin/env bash
# Installs what webgan needs on a fresh machine, and nothing that is already there.
#   - pnpm (from the npm registry) at the version pinned in package.json
#   - the workspace dependencies (pnpm install --frozen-lockfile)
#   - a WebGPU adapter: on Debian 12 without one, Mesa's lavapipe Vulkan driver from
#     bookworm-backports (bookworm's own Mesa 22.x is too old for Dawn)
#   - python3 (stdlib only) for the safetensors interoperability test, when it is missing
#   - with --browser: Debian's chromium, for the end-to-end tests
# Safe to run again: a second run checks, changes nothing and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) echo "setup: unknown option $arg (known: --browser)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "need root for: $*"; return 1; fi
}

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
}

is_bookworm() { [ -r /etc/os-release ] && grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; }

# --- Node -------------------------------------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# --- pnpm ---------------------------------------------------------------------------------
pnpm_version=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  say "installing pnpm $pnpm_version from the npm registry"
  if ! npm install -g --silent "pnpm@$pnpm_version" 2>/dev/null; then
    as_root npm install -g --silent "pnpm@$pnpm_version"
  fi
fi

# --- workspace dependencies ------------------------------------------------------------------
# pnpm writes node_modules/.modules.yaml; when the lockfile is older than it, nothing changed.
if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ] \
   || [ package.json -nt node_modules/.modules.yaml ]; then
  say "installing workspace dependencies"
  CI=true pnpm install --frozen-lockfile --reporter=silent
fi

# --- WebGPU adapter -----------------------------------------------------------------------
adapter_ok() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }

if ! adapter_ok; then
  if is_bookworm; then
    say "no usable WebGPU adapter: installing Mesa's lavapipe from bookworm-backports"
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo 'deb http://deb.debian.org/debian bookworm-backports main' \
        | as_root tee /etc/apt/sources.list.d/webgan-bookworm-backports.list >/dev/null
    fi
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  elif command -v apt-get >/dev/null 2>&1; then
    say "no usable WebGPU adapter: installing Mesa's Vulkan drivers (lavapipe)"
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
  if ! adapter_ok; then
    node scripts/probe-adapter.mjs || true
    say "still no WebGPU adapter; see the message above"
    exit 1
  fi
fi

# --- python3 for the interoperability tests -----------------------------------------------------
# A stdlib-only Python reader checks our safetensors files; Debian images without Python get it.
if ! command -v python3 >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  say "installing python3 (the safetensors interoperability test reads files with it)"
  apt_update_once
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
fi

# --- browser for the end-to-end tests ---------------------------------------------------------
if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests"
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium >/dev/null
  else
    say "the browser tests need Chromium at /usr/bin/chromium"
    exit 1
  fi
fi
