#!/usr/bin/env bash
# Reproduces the fleet-scale numbers quoted in the README, all in one run so
# that the ratios are measured under the same machine conditions:
#   1. full sync of the bundled mirror slice vs `apt-get update` on the same
#      directory (file: sources, private apt root), alternated REPEAT times
#      (default 3), medians and their ratio;
#   2. no-change resync;
#   3. check of synthetic fleets of 10,000 and 100,000 manifests built from
#      the example fleet's real closures: cold (parsing every manifest) and
#      warm (parsed-manifest cache), wall time and peak RSS.
# Usage: benches/fleet-scale.sh [COUNTS...]   (default: 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("${@:-10000 100000}")
[ $# -eq 0 ] && counts=(10000 100000)
cargo build --release -q
bin=$PWD/target/release/debfleet
now=2026-11-27T12:00:00Z
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Bash's own clock: starting python for a timestamp put its ~20 ms start-up
# inside every measured interval.
secs() { echo "$EPOCHREALTIME"; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

echo "== 1. full sync of testdata/mirror (7 suites) vs apt-get update, alternated ${REPEAT:=3} times"
keyring=$PWD/testdata/keyrings/debian-archive-keyring.gpg
# A fresh private apt root (file: sources on the same directory, no sandbox).
apt_root() {
  local root=$1
  rm -rf "$root"
  mkdir -p "$root"/etc/apt/{apt.conf.d,preferences.d,sources.list.d,trusted.gpg.d} "$root"/var/lib/apt/lists/partial "$root"/var/cache/apt/archives/partial "$root"/var/lib/dpkg "$root"/var/log/apt
  : > "$root/var/lib/dpkg/status"
  {
    for s in bookworm bookworm-updates bookworm-backports trixie trixie-updates; do
      echo "deb [signed-by=$keyring] file:$PWD/testdata/mirror/debian $s main"
    done
    for s in bookworm-security trixie-security; do
      echo "deb [signed-by=$keyring] file:$PWD/testdata/mirror/debian-security $s main"
    done
  } > "$root/etc/apt/sources.list"
  cat > "$root/apt.conf" <<CONF
Dir "$root/";
Dir::State "var/lib/apt/";
Dir::Cache "var/cache/apt/";
Dir::Etc "etc/apt/";
Dir::State::status "$root/var/lib/dpkg/status";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Check-Valid-Until "false";
Acquire::By-Hash "no";
Acquire::Languages "none";
APT::Sandbox::User "root";
CONF
}
median() { python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "$@"; }
sync_times=()
apt_times=()
for run in $(seq "$REPEAT"); do
  rm -rf "$work/state.redb" "$work/state.redb.d"
  t0=$(secs)
  "$bin" --fleet testdata/fleet --state "$work/state.redb" --now "$now" sync --format json > "$work/sync.json"
  t1=$(secs)
  sync_times+=("$(elapsed "$t0" "$t1")")
  apt_root "$work/apt"
  t0=$(secs)
  APT_CONFIG="$work/apt/apt.conf" apt-get -q update > "$work/apt-update.log" 2>&1
  t1=$(secs)
  apt_times+=("$(elapsed "$t0" "$t1")")
  echo "run $run: debfleet sync ${sync_times[-1]}s   apt-get update ${apt_times[-1]}s"
done
sync_s=$(median "${sync_times[@]}")
apt_s=$(median "${apt_times[@]}")
echo "median: debfleet sync: ${sync_s}s   apt-get update: ${apt_s}s   ratio: $(python3 -c "print(f'{$apt_s / $sync_s:.2f}')")x"
echo "store size: $(du -h "$work/state.redb" | cut -f1)"

echo "== 2. no-change resync (mean of 20)"
t0=$(secs)
for _ in $(seq 20); do
  "$bin" --fleet testdata/fleet --state "$work/state.redb" --now "$now" sync > /dev/null
done
t1=$(secs)
echo "no-change resync: $(python3 -c "print(f'{($t1 - $t0) / 20 * 1000:.0f}')") ms per run (whole process)"

echo "== 3. fleet check"
for n in "${counts[@]}"; do
  "$bin" --fleet testdata/fleet --state "$work/state.redb" dev generate-fleet --count "$n" --out "$work/fleet$n" 2> /dev/null
  for run in cold warm; do
    /usr/bin/time -f "check $n manifests ($run): %e s wall, %U s user, %M KB max RSS" \
      "$bin" --fleet "$work/fleet$n" --state "$work/state.redb" --now "$now" check --format json --exit-zero > /dev/null
  done
  rm -rf "$work/fleet$n" "$work/state.redb.d/manifests.cache"
done
echo "== 4. per-image cost of apt (apt list --upgradable in a private apt root) vs debfleet:"
echo "   cargo test --release --test check_vs_apt -- --nocapture | grep -E 'apt list|debfleet sync'"
