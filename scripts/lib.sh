# Shared helpers for the scripts in this folder (sourced, not executed).
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# "rustup" when the wasm32 target is (or can be) installed through rustup, else "debian".
# The answer is remembered in target/.wasm-mode so an offline machine pays the probe once.
wasm_mode() {
  local marker=target/.wasm-mode
  if [ -f "$marker" ]; then cat "$marker"; return; fi
  mkdir -p target
  local mode=debian
  if command -v rustup >/dev/null 2>&1; then
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
      mode=rustup
    elif timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
      mode=rustup
    fi
  fi
  echo "$mode" > "$marker"
  echo "$mode"
}

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock
}
