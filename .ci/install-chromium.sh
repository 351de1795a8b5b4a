#!/bin/sh
# Install headless Chromium (Debian package `chromium`) for the report's
# browser tests, when it is not installed yet. Needs root (apt-get).
set -eu
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    echo "chromium present: $(command -v chromium || echo /usr/bin/chromium)"
    exit 0
fi
# Wait for another apt/dpkg run to release its locks instead of failing.
apt-get -o DPkg::Lock::Timeout=600 update
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y chromium
command -v chromium
