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

# Installs moto's S3 server from PyPI when it is missing (the S3 tests run against it on loopback).
# Usage: ensure_moto
ensure_moto() {
    python3 -c 'import moto.server, flask, flask_cors' 2>/dev/null && return 0
    echo "installing moto's S3 server from PyPI" >&2
    # Debian's own Python refuses pip installs outside a venv (PEP 668) unless told otherwise.
    python3 -m pip install -q 'moto[server]' >&2 || python3 -m pip install -q --break-system-packages 'moto[server]' >&2 && return 0
    echo "missing moto's S3 server; run: python3 -m pip install 'moto[server]'" >&2
    return 1
}
