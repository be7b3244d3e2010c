#!/bin/sh
# Install a built Warpaint bundle for the current user (no root needed):
#   sh install-linux.sh [PREFIX]     (default PREFIX: ~/.local)
# Copies the bundle to PREFIX/lib/warpaint, links PREFIX/bin/warpaint, and
# registers the desktop entry, icons, AppStream metadata and the OpenRaster
# file type so .ora, PNG and JPEG files offer "Open with Warpaint".
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${1:-"$HOME/.local"}
SHARE="$PREFIX/share"
APP_ID=io.warpaint.Warpaint

mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$SHARE/applications" "$SHARE/metainfo" "$SHARE/mime/packages" "$SHARE/icons"
rm -rf "$PREFIX/lib/warpaint"
cp -R "$HERE" "$PREFIX/lib/warpaint"
ln -sf "$PREFIX/lib/warpaint/warpaint" "$PREFIX/bin/warpaint"
sed "s|^Exec=warpaint|Exec=$PREFIX/bin/warpaint|; s|^TryExec=warpaint|TryExec=$PREFIX/bin/warpaint|" \
    "$HERE/share/applications/$APP_ID.desktop" > "$SHARE/applications/$APP_ID.desktop"
cp "$HERE/share/metainfo/$APP_ID.metainfo.xml" "$SHARE/metainfo/"
cp "$HERE/share/mime/packages/warpaint-openraster.xml" "$SHARE/mime/packages/"
cp -R "$HERE/share/icons/hicolor" "$SHARE/icons/"
# Refresh the desktop's caches where the tools exist.
command -v update-mime-database >/dev/null && update-mime-database "$SHARE/mime" || true
command -v update-desktop-database >/dev/null && update-desktop-database "$SHARE/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
echo "Warpaint installed: $PREFIX/bin/warpaint (menu entry: Warpaint)"
