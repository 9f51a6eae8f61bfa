#!/usr/bin/env bash
# Render the app icons from public/favicon.svg with headless Chromium (run from pwa/).
# icon-192/512: the favicon as drawn (rounded corners, transparent outside);
# icon-maskable-512: full-bleed background, the bolt inside the central 80 % safe zone.
set -euo pipefail
CHROME=${CHROME:-/usr/bin/chromium}
out=public/icons
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
svg=$(cat public/favicon.svg)
bolt='<path d="M36 6 16 36h14l-4 22 22-32H34z" fill="#ffd23f"/>'
render() { # size html-file png
  "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --force-device-scale-factor=1 \
    --default-background-color=00000000 --window-size="$1,$1" --screenshot="$3" "file://$2" 2>/dev/null
}
page() { # size body
  printf '<!doctype html><html><body style="margin:0;background:transparent">%s</body></html>' "$2" \
    | sed "s#<svg #<svg width=\"$1\" height=\"$1\" style=\"display:block\" #"
}
for size in 192 512; do
  page "$size" "$svg" > "$tmp/icon-$size.html"
  render "$size" "$tmp/icon-$size.html" "$out/icon-$size.png"
done
# maskable: square blue field; the 64-unit bolt drawing scaled to 85 % (farthest point 36 % of the width from the centre) and centred so every
# point stays inside the 80 % circle that launchers keep
maskable="<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\"><rect width=\"64\" height=\"64\" fill=\"#0b5cad\"/><g transform=\"translate(4.8 4.8) scale(0.85)\">$bolt</g></svg>"
page 512 "$maskable" > "$tmp/maskable.html"
render 512 "$tmp/maskable.html" "$out/icon-maskable-512.png"
ls -l "$out"
