#!/usr/bin/env bash
# Makes sure nginx (Debian's `nginx` package) is installed, for the edge balancer of
# `scalemart infra up --edge`, its tests and the lab's reference. Idempotent: when an nginx binary
# is already on PATH or in /usr/sbin it does nothing. Non-interactive; needs root (as in CI) or
# passwordless sudo to install. Prints the binary's path on stdout.
#
# Debian 12 ships the binary in `nginx` itself (`nginx-light` is now a metapackage adding the echo
# module on top of it), so `nginx` is the smallest package that brings it. Installing never starts
# a system nginx where /usr/sbin/policy-rc.d forbids service starts (containers); our own code
# always runs nginx with its own config, pid file and ports.
set -euo pipefail

find_nginx() {
  local candidate
  candidate=$(command -v nginx 2>/dev/null || true)
  if [ -z "$candidate" ] && [ -x /usr/sbin/nginx ]; then candidate=/usr/sbin/nginx; fi
  if [ -n "$candidate" ]; then echo "$candidate"; return 0; fi
  return 1
}

if find_nginx; then exit 0; fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-nginx: nginx is missing and apt-get is not available; install nginx yourself" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "ensure-nginx: nginx is missing; installing it needs root: run 'apt-get install -y --no-install-recommends nginx' as root" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
# Other sessions may be installing too: wait for the dpkg lock rather than failing on it.
APT=("${SUDO[@]}" apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

echo "ensure-nginx: installing Debian's nginx package" >&2
# The package lists may be stale (a moved security update): refresh them once and retry.
if ! "${APT[@]}" install nginx >&2; then
  "${SUDO[@]}" apt-get -q -o DPkg::Lock::Timeout=300 update >&2
  "${APT[@]}" install nginx >&2
fi

if ! find_nginx; then
  echo "ensure-nginx: the nginx package installed but no nginx binary was found" >&2
  exit 1
fi
