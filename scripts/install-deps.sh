#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine: the Rust components, and the
# real clients the tests talk to (go tool pprof, promtool, wrk, chromium, docker-compose for `config`).
# Safe to run again: it installs only what is missing. Needs root (or sudo) for apt.
set -euo pipefail

need_apt=()
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)  # go tool pprof -svg
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)

if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "install-deps: missing ${need_apt[*]}; run as root or install them with apt-get" >&2
      exit 1
    fi
  fi
  echo "install-deps: apt-get install ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install Rust from https://rustup.rs first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi
