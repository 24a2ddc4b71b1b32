#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests drive (real servers, real clients, real proxies), when missing.
# Needs root (or sudo) and Debian's package sources; does nothing when everything is already there.
set -euo pipefail
# tmux: the entry's terminal screen (TerminalStatusE2E); chromium, nodejs, npm: the dashboard in a real browser
# (DashboardBrowserE2E installs npm's playwright-core itself and drives this chromium; no browser download).
packages=(nginx-light squid openssh-server openssh-client postgresql postgresql-client redis-server redis-tools socat curl procps openssl
  tmux chromium nodejs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm ships inside some nodejs builds and as its own package in Debian's: ask for the command, not the package
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing test packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Packages start their services on install; the tests start their own instances on ephemeral ports instead.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
