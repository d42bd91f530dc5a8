# Sourced by the scripts: installs Debian packages that are missing, or says how.
# Usage: ensure_packages pkg...
ensure_packages() {
    missing=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "installing Debian packages:$missing" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
    else
        echo "missing Debian packages; run: sudo apt-get install -y$missing" >&2
        return 1
    fi
}
