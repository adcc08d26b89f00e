# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# unpack-big: apply the big image's layer (~115 MiB uncompressed tar, from
# bench/setup.sh) into a fresh directory, as the test user, reading stdin:
# `tspod-rt unpack DEST < layer.tar` vs GNU `tar -xf - -C DEST < layer.tar`.
# tar as non-root does not chown; tspod-rt unpacks in a user namespace (single
# id map without --uidmap) and does chown, mknod whiteouts, confinement.
# Goal (issue 4): tspod-rt <= 1.0x GNU tar. Both through sh (hyperfine
# subtracts the shell's start-up), page cache warm, `sync` before each run.
#
# The prepare step moves the previous DEST aside instead of deleting it (all
# are deleted after the row): on ext4 without a journal (these machines) an
# inode freed in the last 30 s is never reused and each costs a look when a
# new one is allocated in its block group, so deleting 6000 files before each
# run made both tools spend most of their time in the kernel's allocator
# (perf: recently_deleted()), 2.3-3.0 s instead of 0.2-0.4 s, and the row
# compared that, not the unpackers.
row_unpack_big() {
  local layer=$BSTATE/big/layer.tar d=$WORK/scratch/unpack
  local prep="{ [ ! -e $d ] || mv $d $d.\$(date +%s%N); } && mkdir $d && sync"
  local tarcmd="tar -xf - -C $d < $layer"
  if ! tspod_rt_has_unpack; then
    hf unpack-big --warmup 1 --runs 4 --prepare "$prep" -n tar "$tarcmd" || return 1
    report_skip unpack-big "GNU tar" "ratio 1.0" "tspod-rt has no \`unpack\` mode yet" unpack-big tar
  else
    hf unpack-big --warmup 1 --runs 6 \
      --prepare "$prep" -n tspod "$TSPOD_RT_BIN unpack $d < $layer" \
      --prepare "$prep" -n tar "$tarcmd" || return 1
    report unpack-big unpack-big tspod "GNU tar" tar "ratio 1.0"
  fi
  rm -rf "$d" "$d".*
}
register row_unpack_big unpack-big
