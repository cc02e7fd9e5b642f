# Sourced by the set-up scripts: one way to make a cached virtual environment.
#   ensure_venv VENV TAG WANT INSTALL
# creates VENV (with $PYTHON, default python3) if missing and, when the stamp file
# VENV/.ot3d-installed does not hold WANT (a hash of what the install depends on), upgrades
# pip and runs the shell function INSTALL with VENV's python as its argument, then writes
# the stamp. So a re-run installs nothing unless its inputs changed. TAG prefixes messages.
ensure_venv() {
    local venv="$1" tag="$2" want="$3" install="$4"
    local py="${PYTHON:-python3}" stamp="$1/.ot3d-installed"
    if [ ! -x "$venv/bin/python" ]; then
        echo "$tag: creating $venv with $($py --version)" >&2
        "$py" -m venv "$venv"
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$venv/bin/python" -m pip install -q --upgrade pip >&2
        "$install" "$venv/bin/python"
        echo "$want" > "$stamp"
    fi
}
