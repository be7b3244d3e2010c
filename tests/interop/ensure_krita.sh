#!/bin/sh
# Makes sure Debian's krita, xvfb-run and xauth are installed, installing them
# with apt-get when missing (as root, or with passwordless sudo).
# Exit 0: all present. Exit 1: missing and could not be installed (the reason
# is printed); `make interop` then skips loudly instead of failing.
PACKAGES="krita xvfb xauth"
LOG=build/interop-apt.log

present() {
    command -v krita >/dev/null 2>&1 && command -v xvfb-run >/dev/null 2>&1 \
        && command -v xauth >/dev/null 2>&1
}

present && exit 0

if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "make interop: krita/xvfb are missing and this user cannot install packages (not root, no passwordless sudo)"
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "make interop: krita/xvfb are missing and there is no apt-get to install them"
    exit 1
fi

mkdir -p build
echo "make interop: installing $PACKAGES with apt-get (log: $LOG)"
start=$(date +%s)
install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 $PACKAGES >>"$LOG" 2>&1
}
# Package lists may be stale or absent on a fresh machine: refresh them once
# when the first try fails.
: >"$LOG"
install || { $SUDO apt-get update -q -o DPkg::Lock::Timeout=120 >>"$LOG" 2>&1 && install; }
if ! present; then
    echo "make interop: apt-get could not install $PACKAGES; last lines of $LOG:"
    tail -n 5 "$LOG"
    exit 1
fi
echo "make interop: installed $PACKAGES in $(($(date +%s) - start)) s"
