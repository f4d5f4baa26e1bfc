#!/usr/bin/env bash
# Installs the system packages the tests need that Go cannot fetch itself.
#
#  - bubblewrap (bwrap): internal/sandbox runs the project's untrusted test commands under it.
#  - chromium: the web dashboard's browser test (headless, driven with chromedp).
#  - util-linux's prlimit and setpriv (essential on Debian, so normally present): the sandbox's
#    memory limit and, when running as root, dropping root inside the sandbox.
#
# Idempotent and quiet when everything is already present. Installing needs root and apt-get
# (Debian/Ubuntu). Under CI=true a dependency that cannot be installed fails the run; elsewhere it
# is a loud warning and the tests that need it are skipped (they say so).
set -uo pipefail

red() { printf '\033[1;31m%s\033[0m\n' "$*" >&2; }
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

apt_updated=
apt_log=$(mktemp)
trap 'rm -f "$apt_log"' EXIT
apt_install() { # apt_install <package>...; apt's output goes to $apt_log
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || return 1
    sudo=(sudo -n)
  fi
  command -v apt-get >/dev/null || return 1
  if [ -z "$apt_updated" ]; then
    "${sudo[@]}" apt-get update -qq >>"$apt_log" 2>&1 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >>"$apt_log" 2>&1
}

failed=0
need() { # need <command> <debian package> <why>
  local cmd=$1 pkg=$2 why=$3
  command -v "$cmd" >/dev/null && return 0
  say "installing $pkg ($why)"
  if apt_install "$pkg" && command -v "$cmd" >/dev/null; then
    echo "$pkg installed: $(command -v "$cmd")"
    return 0
  fi
  [ -s "$apt_log" ] && tail -n 20 "$apt_log" >&2
  if [ "${CI:-}" = "true" ]; then
    red "CI=true and $cmd could not be installed: run 'apt-get install -y $pkg' as root ($why)"
    failed=1
  else
    red "WARNING: $cmd is missing and could not be installed ('apt-get install -y $pkg' as root); tests that need it will be SKIPPED ($why)"
  fi
}

need bwrap bubblewrap "internal/sandbox runs untrusted test commands under bubblewrap"
need prlimit util-linux "internal/sandbox's memory limit"
need setpriv util-linux "internal/sandbox drops root inside the sandbox"
need chromium chromium "internal/web's browser test drives headless Chromium"

exit $failed
