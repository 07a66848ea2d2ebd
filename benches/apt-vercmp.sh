#!/bin/sh
# Compares apt's Debian version comparator with debfleet's on the same real
# version pairs, in one run, and prints ns/compare for both and the ratio.
#
# Needs g++ and libapt-pkg-dev (apt-get install -y g++ libapt-pkg-dev).
# Usage: benches/apt-vercmp.sh   (from anywhere; builds the bench in release
# mode, so the first run compiles for a while)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

g++ -O2 -std=c++17 -o "$work/apt_vercmp" "$root/benches/apt_vercmp.cpp" -lapt-pkg

cd "$root"
# Our side: writes the corpus pairs to a file and prints the best-of-rounds
# line, skipping the criterion groups.
DEBFLEET_VERSION_PAIRS_OUT="$work/pairs.tsv" DEBFLEET_VERSION_REPORT_ONLY=1 \
    cargo bench --quiet --bench version >"$work/ours.txt"
# apt's side, on exactly the same pairs.
"$work/apt_vercmp" "$work/pairs.tsv" >"$work/apt.txt"

cat "$work/ours.txt" "$work/apt.txt"

ours=$(sed -n 's/^debfleet compare: \([0-9.]*\) ns.*/\1/p' "$work/ours.txt")
apt=$(sed -n 's/^apt DoCmpVersion(with lengths): \([0-9.]*\) ns.*/\1/p' "$work/apt.txt")
apt_strlen=$(sed -n 's/^apt CmpVersion(const char\*, const char\*): \([0-9.]*\) ns.*/\1/p' "$work/apt.txt")
counts_ours=$(sed -n 's/.*\(lt=[0-9]* eq=[0-9]* gt=[0-9]*\).*/\1/p' "$work/ours.txt")
counts_apt=$(sed -n 's/.*\(lt=[0-9]* eq=[0-9]* gt=[0-9]*\).*/\1/p' "$work/apt.txt")
if [ "$counts_ours" != "$counts_apt" ]; then
    echo "WARNING: apt and debfleet disagree on the pairs: debfleet $counts_ours, apt $counts_apt" >&2
fi
awk -v o="$ours" -v a="$apt" -v s="$apt_strlen" 'BEGIN {
    printf "ratio apt/debfleet: %.2fx (with lengths), %.2fx (const char* overload)\n", a / o, s / o
}'
