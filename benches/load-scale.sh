#!/usr/bin/env bash
# Load test at fleet scale (README "Load at fleet scale"), all in one run so
# that the within-run ratios share the same machine conditions:
#   1. builds a 20-suite mirror in 3 architectures (amd64, arm64, i386) from
#      the bundled slice (testdata/mirror, 7 suites, amd64): the real amd64
#      indexes byte for byte, arm64/i386 indexes with the `Architecture:`
#      field rewritten (`all` kept), 13 more suites copied from the real
#      ones under other names (see SUITES below), each suite's Release
#      regenerated (sizes, SHA256) and clearsigned into InRelease by a
#      throwaway gpg key made in the temporary directory;
#      a fleet.yaml with 9 bases over those 20 suites, every base in the 3
#      architectures (27 candidate tables);
#   2. syncs it (wall, peak RSS, store size), next to a sync of the bundled
#      7-suite amd64 fleet as the within-run baseline;
#   3. writes COUNT synthetic manifests over those bases
#      (`debfleet dev generate-fleet`, as benches/fleet-scale.sh, from
#      templates: the example fleet's manifests retargeted to every base and
#      architecture) and runs `debfleet check` cold (no parsed-manifest cache)
#      and warm;
#   4. adds one year of history to the same store (`debfleet dev
#      generate-history`: 2,000 sync generations over the 20 suites, 52
#      weekly snapshots, builds of HISTORY_IMAGES images spread over the 27
#      (base, arch), tests, promotions, an expedite and a rollback) and times
#      the audit queries; the same year is also generated into an empty
#      store and queried, to see what the mirror data and the manifests cost
#      the audit queries.
# Every command is timed as a whole process (start-up and JSON output
# included); peak RSS is the process's own (wait4 rusage).
#
# Usage: benches/load-scale.sh [COUNT]      (default 100000)
#   HISTORY_IMAGES=N   images in the year of history (default 500, as the
#                      audit benchmark)
#   REPEAT=N           runs per audit query (median reported; default 5)
#   KEEP=DIR           keep the work directory (mirror, stores, fleets) in DIR
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
images=${HISTORY_IMAGES:-500}
repeat=${REPEAT:-5}
cargo build --release -q
bin=$PWD/target/release/debfleet
now=2026-11-27T12:00:00Z
start=2026-11-30           # Monday after the sync: the year of history
mid=2027-05-31T20:00:00Z   # week 26, after the Monday builds and promotions
end=2027-11-29T00:00:00Z   # after the 52nd week
if [ -n "${KEEP:-}" ]; then
  work=$KEEP
  if [ -e "$work" ] && [ -n "$(ls -A "$work")" ]; then
    echo "KEEP=$work: the directory must be new or empty" >&2
    exit 1
  fi
  mkdir -p "$work"
else
  work=$(mktemp -d)
fi
export GNUPGHOME=$work/gnupg
cleanup() {
  gpgconf --kill gpg-agent > /dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
results=$work/results.tsv
: > "$results"

# measure LABEL REPEATS CMD...: runs CMD (stdout to $work/out.last) REPEATS
# times; appends "LABEL  median wall s  min  max peak RSS MiB  exit" to the
# results; exit status 0 and 2 ("attention needed") are accepted.
cat > "$work/measure.py" <<'PY'
import os, statistics, subprocess, sys, time
label, runs, out_path, results = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cmd = sys.argv[5:]
walls, rss, code = [], 0, 0
for _ in range(runs):
    with open(out_path, "wb") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out)
        _, status, usage = os.wait4(p.pid, 0)
        walls.append(time.monotonic() - t0)
    code = os.waitstatus_to_exitcode(status)
    rss = max(rss, usage.ru_maxrss)
    if code not in (0, 2):
        sys.exit(f"{label}: exit status {code}: {' '.join(cmd)}")
med = statistics.median(walls)
line = f"{label}\t{med:.3f}\t{min(walls):.3f}\t{rss / 1024:.0f}\t{code}\t{runs}"
with open(results, "a") as f:
    f.write(line + "\n")
print(f"  {label}: {med:.3f} s (median of {runs}, min {min(walls):.3f}), peak RSS {rss / 1024:.0f} MiB, exit {code}", file=sys.stderr)
PY
measure() {
  local label=$1 runs=$2
  shift 2
  python3 "$work/measure.py" "$label" "$runs" "$work/out.last" "$results" "$@"
}
size_of() { du -b "$1" | cut -f1; }
note() { printf '%s\t%s\n' "$1" "$2" >> "$results"; echo "  $1: $2"; }

echo "== machine: $(nproc) CPUs, $(uptime | sed 's/.*load average/load average/')"
note "load average at start" "$(uptime | sed 's/.*load average: //')"

# ---------------------------------------------------------------- 1. mirror
echo "== 1. building the 20-suite, 3-architecture mirror in $work/mirror"
archs=(amd64 arm64 i386)
# archive/suite  <-  source archive/suite in testdata/mirror
SUITES=(
  debian/bookworm=debian/bookworm
  debian/bookworm-updates=debian/bookworm-updates
  debian/bookworm-backports=debian/bookworm-backports
  debian/bookworm-proposed-updates=debian/bookworm-updates
  debian/trixie=debian/trixie
  debian/trixie-updates=debian/trixie-updates
  debian/trixie-backports=debian/bookworm-backports
  debian/trixie-proposed-updates=debian/trixie-updates
  debian/forky=debian/trixie
  debian-security/bookworm-security=debian-security/bookworm-security
  debian-security/trixie-security=debian-security/trixie-security
  debian-security/forky-security=debian-security/trixie-security
  internal/bookworm-internal=debian-security/bookworm-security
  internal/bookworm-internal-staging=debian-security/bookworm-security
  internal/bookworm-fips=debian-security/bookworm-security
  internal/bookworm-elts=debian/bookworm-updates
  internal/trixie-internal=debian-security/trixie-security
  internal/trixie-internal-staging=debian-security/trixie-security
  internal/trixie-fips=debian-security/trixie-security
  internal/forky-internal=debian-security/trixie-security
)
mkdir -p -m 700 "$GNUPGHOME"
gpg_() { gpg --batch --pinentry-mode loopback --passphrase '' "$@"; }
gpg_ --faked-system-time '20260101T000000!' --quick-gen-key \
  "debfleet load test <load@example.invalid>" ed25519 sign never 2> /dev/null
gpg_ --export --output "$work/keyring.gpg" load@example.invalid 2> /dev/null
fpr=$(gpg_ --with-colons --list-keys load@example.invalid 2> /dev/null | awk -F: '/^fpr:/ {print $10; exit}')
t0=$(date +%s.%N)
# Index of each (source suite, arch), made once: uncompressed text (for the
# Release entry) and xz (the amd64 one is the archive's own file).
cache=$work/index-cache
for pair in "${SUITES[@]}"; do
  src=${pair#*=}
  for arch in "${archs[@]}"; do
    d=$cache/$src/$arch
    [ -e "$d/Packages.xz" ] && continue
    mkdir -p "$d"
    real=testdata/mirror/${src%%/*}/dists/${src#*/}/main/binary-amd64/Packages.xz
    if [ "$arch" = amd64 ]; then
      xz -dc "$real" > "$d/Packages"
      cp "$real" "$d/Packages.xz"
    else
      xz -dc "$real" | sed "s/^Architecture: amd64\$/Architecture: $arch/" > "$d/Packages"
      xz -T2 -1 -c "$d/Packages" > "$d/Packages.xz"
    fi
  done
done
for pair in "${SUITES[@]}"; do
  dst=${pair%%=*} src=${pair#*=}
  archive=${dst%%/*} suite=${dst#*/}
  dir=$work/mirror/$archive/dists/$suite
  mkdir -p "$dir"
  real=$(sed -n '/^$/,/^SHA256:/p' "testdata/mirror/${src%%/*}/dists/${src#*/}/InRelease")
  field() { printf '%s\n' "$real" | sed -n "s/^$1: //p" | head -n1; }
  {
    if [ "$archive" = internal ]; then
      echo "Origin: Internal"
      echo "Label: Internal"
    else
      echo "Origin: $(field Origin)"
      echo "Label: $(field Label)"
    fi
    echo "Suite: $suite"
    echo "Codename: $suite"
    echo "Date: Fri, 20 Nov 2026 12:00:00 UTC"
    [ -n "$(field NotAutomatic)" ] && echo "NotAutomatic: $(field NotAutomatic)"
    [ -n "$(field ButAutomaticUpgrades)" ] && echo "ButAutomaticUpgrades: $(field ButAutomaticUpgrades)"
    echo "Architectures: ${archs[*]}"
    echo "Components: main"
    echo "Description: load-test copy of ${src} as ${dst}"
    echo "SHA256:"
    for arch in "${archs[@]}"; do
      d=$cache/$src/$arch
      mkdir -p "$dir/main/binary-$arch"
      ln "$d/Packages.xz" "$dir/main/binary-$arch/Packages.xz"
      for f in Packages Packages.xz; do
        printf ' %s %16d main/binary-%s/%s\n' "$(sha256sum < "$d/$f" | cut -d' ' -f1)" \
          "$(size_of "$d/$f")" "$arch" "$f"
      done
    done
  } > "$dir/Release"
  gpg_ --faked-system-time '20261120T120000!' --local-user "$fpr" --digest-algo SHA256 \
    --clearsign --output "$dir/InRelease" "$dir/Release" 2> /dev/null
done
rm -f "$cache"/*/*/*/Packages
mirror_s=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
note "mirror: suites / index files / xz bytes" "${#SUITES[@]} / $(find "$work/mirror" -name Packages.xz | wc -l) / $(du -bc $(find "$work/mirror" -name Packages.xz) | tail -n1 | cut -f1) (built in ${mirror_s} s)"

fleet=$work/fleet
mkdir -p "$fleet/images"
base() { # NAME SUITE...  (archive/suite)
  local name=$1
  shift
  echo "  $name:"
  echo "    release: \"${name:0:1}\""
  echo "    architectures: [amd64, arm64, i386]"
  echo "    repositories:"
  for s in "$@"; do
    echo "      - {archive: ${s%%/*}, suite: ${s#*/}, components: [main]}"
  done
}
{
  echo "archives:"
  for a in debian debian-security internal; do echo "  $a: $work/mirror/$a"; done
  echo "keyring: $work/keyring.gpg"
  echo "bases:"
  bw=(debian/bookworm debian/bookworm-updates debian-security/bookworm-security)
  tx=(debian/trixie debian/trixie-updates debian-security/trixie-security)
  base bookworm "${bw[@]}" internal/bookworm-internal
  base bookworm-backports "${bw[@]}" internal/bookworm-internal debian/bookworm-backports
  base bookworm-proposed "${bw[@]}" debian/bookworm-proposed-updates internal/bookworm-internal-staging
  base bookworm-fips "${bw[@]}" internal/bookworm-fips internal/bookworm-elts
  base trixie "${tx[@]}" internal/trixie-internal
  base trixie-backports "${tx[@]}" internal/trixie-internal debian/trixie-backports
  base trixie-proposed "${tx[@]}" debian/trixie-proposed-updates internal/trixie-internal-staging
  base trixie-fips "${tx[@]}" internal/trixie-fips
  base forky debian/forky debian-security/forky-security internal/forky-internal
  echo "manifests: images/**/*.yaml"
} | sed -e 's/release: "b"/release: "12"/' -e 's/release: "t"/release: "13"/' \
  -e 's/release: "f"/release: "14"/' > "$fleet/fleet.yaml"
# Templates for the synthetic fleet: each example manifest on every base
# derived from its own, in every architecture (foreign `name:arch` keys kept;
# the example manifests are all amd64).
templates=0
while IFS= read -r -d '' m; do
  case $(sed -n 's/^base: //p' "$m") in
    bookworm) targets=(bookworm bookworm-proposed bookworm-fips) ;;
    bookworm-backports) targets=(bookworm-backports) ;;
    trixie) targets=(trixie trixie-backports trixie-proposed trixie-fips forky) ;;
    *) continue ;;
  esac
  for b in "${targets[@]}"; do
    for arch in "${archs[@]}"; do
      mkdir -p "$fleet/images/$b/$arch"
      # An i386 image has no separate `name:i386` entries: they are native.
      sed -e "s/^image: \\(.*\\)/image: \\1-$b-$arch/" -e "s/^base: .*/base: $b/" \
        -e "s/^architecture: .*/architecture: $arch/" -e "/^  \"[^\"]*:$arch\":/d" \
        "$m" > "$fleet/images/$b/$arch/$(basename "$m")"
      templates=$((templates + 1))
    done
  done
done < <(find testdata/fleet/images -name '*.yaml' -print0 | sort -z)
note "fleet: bases x architectures / template manifests" "9 x 3 / $templates"

# ------------------------------------------------------------------ 2. sync
echo "== 2. sync (the bundled 7-suite amd64 fleet first, as the baseline)"
measure "sync, 7 suites x amd64 (bundled slice; baseline)" 1 \
  "$bin" --fleet testdata/fleet --state "$work/base7.redb" --now "$now" sync --format json
note "store size, 7 suites x amd64 (MiB)" "$(($(size_of "$work/base7.redb") / 1048576))"
rm -rf "$work/base7.redb" "$work/base7.redb.d"
state=$work/state.redb
measure "sync, 20 suites x 3 archs" 1 \
  "$bin" --fleet "$fleet" --state "$state" --now "$now" sync --format json
cp "$work/out.last" "$work/sync.json"
synced=$(python3 -c "
import json, sys; d = json.load(open('$work/sync.json'))
bad = [s['suite'] for s in d['suites'] if s['status'] != 'updated']
if bad: sys.exit(f'sync: suites not updated: {bad}')
print(len(d['suites']), '/', sum(s['packages'] for s in d['suites']))")
note "suites updated / records (packages over all indexes)" "$synced"
note "store size after sync, 20 suites x 3 archs (MiB)" "$(($(size_of "$state") / 1048576))"
measure "no-change resync, 20 suites x 3 archs" 5 \
  "$bin" --fleet "$fleet" --state "$state" --now "$now" sync --format json

# ----------------------------------------------------------------- 3. check
echo "== 3. check of $count synthetic manifests over 9 bases x 3 architectures"
measure "generate $count manifests (dev generate-fleet)" 1 \
  "$bin" --fleet "$fleet" --state "$state" dev generate-fleet --count "$count" --out "$work/fleet$count"
note "manifests: files / MiB of YAML" "$(find "$work/fleet$count/images" -name '*.yaml' | wc -l) / $(($(du -sb "$work/fleet$count/images" | cut -f1) / 1048576))"
rm -f "$state.d/manifests.cache"
measure "check $count manifests, cold" 1 \
  "$bin" --fleet "$work/fleet$count" --state "$state" --now "$now" check --format json --exit-zero
cp "$work/out.last" "$work/check.json"
measure "check $count manifests, warm" 3 \
  "$bin" --fleet "$work/fleet$count" --state "$state" --now "$now" check --format json --exit-zero
note "check result (images / with updates / packages updatable)" "$(python3 -c "
import json; d = json.load(open('$work/check.json'))
imgs = d['images'] if isinstance(d, dict) and 'images' in d else d
n = len(imgs); u = [len(i.get('updates', [])) for i in imgs]
print(f'{n} / {sum(1 for x in u if x)} / {sum(u)}')" 2> /dev/null || echo '?')"
rm -rf "$work/fleet$count" "$work/check.json"

# --------------------------------------------------------------- 4. history
echo "== 4. one year of history ($images images) added to the same store"
history=(dev generate-history --images "$images" --start "$start")
audit() { # LABEL-SUFFIX STATE
  local s=$2 r=$repeat
  measure "audit at T --stage production ($1)" "$r" \
    "$bin" --fleet "$fleet" --state "$s" --now "$end" audit at "$mid" --stage production --format json
  measure "audit at T, all stages ($1)" "$r" \
    "$bin" --fleet "$fleet" --state "$s" --now "$end" audit at "$mid" --format json
  measure "audit history image-0007 ($1)" "$r" \
    "$bin" --fleet "$fleet" --state "$s" --now "$end" audit history image-0007 --format json
  measure "audit who-had libc6 --stage production ($1)" "$r" \
    "$bin" --fleet "$fleet" --state "$s" --now "$end" audit who-had libc6 --stage production --format json
  measure "audit who-had libssl3 --version '<< 1.5-1' ($1)" "$r" \
    "$bin" --fleet "$fleet" --state "$s" --now "$end" audit who-had libssl3 --version '<< 1.5-1' --format json
  measure "audit who-had pkg01234 --stage production ($1)" "$r" \
    "$bin" --fleet "$fleet" --state "$s" --now "$end" audit who-had pkg01234 --stage production --format json
  measure "audit verify ($1)" 1 \
    "$bin" --fleet "$fleet" --state "$s" --now "$end" audit verify --format json
  python3 -c "
import json, sys; d = json.load(open('$work/out.last'))
sys.exit(0 if d.get('broken') is None else f'audit verify: broken {d[\"broken\"]}')"
}
before=$(size_of "$state")
measure "generate the year into the synced store" 1 \
  "$bin" --fleet "$fleet" --state "$state" "${history[@]}"
note "store size: after sync / after the year (MiB)" "$((before / 1048576)) / $(($(size_of "$state") / 1048576))"
audit "synced store" "$state"
measure "generate the year into an empty store (comparison)" 1 \
  "$bin" --fleet "$fleet" --state "$work/year.redb" "${history[@]}"
note "store size, the year alone (MiB)" "$(($(size_of "$work/year.redb") / 1048576))"
audit "year alone" "$work/year.redb"
note "load average at end" "$(uptime | sed 's/.*load average: //')"

echo
echo "== summary (whole-process wall time; median of the runs)"
python3 - "$results" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
width = max(len(r[0]) for r in rows)
for r in rows:
    if len(r) == 2:
        print(f"{r[0]:<{width}}  {r[1]}")
    elif r[5] != "0":
        print(f"{r[0]:<{width}}  {float(r[1]):9.3f} s   peak RSS {int(r[3]):5d} MiB   ({r[5]} runs, min {float(r[2]):.3f} s)")
PY
