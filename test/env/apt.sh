# Sourced by test/env/setup.sh and bench/setup.sh: install the named Debian
# packages that are missing, in one apt run (one dpkg-query for all; apt-get
# update only when something is missing). Uses the caller's log().
apt_install_missing() {
  local missing=() p n st
  local -A status=()
  while read -r n st; do status[$n]=$st; done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)
  for p in "$@"; do
    [[ ${status[$p]:-} == installed ]] || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "apt packages: all $# installed"
    return
  fi
  log "apt packages missing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}
