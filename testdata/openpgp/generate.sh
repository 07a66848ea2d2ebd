#!/bin/sh
# Regenerates the OpenPGP test fixtures in this directory with GnuPG.
#
# Every key is new on each run (so the committed bytes change), but the
# scenario each file stands for, and every date the tests rely on, stays the
# same: the keys and signatures are made at fixed, faked times.
#
# Usage: sh testdata/openpgp/generate.sh   (needs gpg 2.2+, run from anywhere)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

GNUPGHOME=$(mktemp -d)
export GNUPGHOME
work=$(mktemp -d)
cleanup() {
    gpgconf --kill gpg-agent 2>/dev/null || true
    rm -rf "$GNUPGHOME" "$work"
}
trap cleanup EXIT

# gpg at a faked, frozen time ($1 = YYYYMMDDThhmmss), non-interactive, no
# passphrases.
g() {
    at=$1
    shift
    gpg --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase '' \
        --faked-system-time "${at}!" "$@"
}

fpr_of() {
    gpg --batch --with-colons --list-keys "$1" | awk -F: '/^fpr:/ { print $10; exit }'
}

KEYTIME=20250101T000000
SIGTIME=20250601T120000

# 1. Keys.
# good: ed25519 primary key that signs itself.
g $KEYTIME --quick-gen-key 'debfleet test good <good@example.org>' ed25519 sign never
GOOD=$(fpr_of good@example.org)
# second: RSA certification-only primary with an RSA signing subkey, so
# the signing key differs from the primary fingerprint.
g $KEYTIME --quick-gen-key 'debfleet test second <second@example.org>' rsa3072 cert never
SECOND=$(fpr_of second@example.org)
g $KEYTIME --quick-add-key "$SECOND" rsa3072 sign never
# expired: valid 2024-01-01 .. 2025-01-01.
g 20240101T000000 --quick-gen-key 'debfleet test expired <expired@example.org>' ed25519 sign 2025-01-01
EXPIRED=$(fpr_of expired@example.org)
# revoked: revoked with the revocation certificate gpg writes at key
# generation (reason "no reason specified", i.e. a hard revocation).
g $KEYTIME --quick-gen-key 'debfleet test revoked <revoked@example.org>' ed25519 sign never
REVOKED=$(fpr_of revoked@example.org)

# 2. The signed text: a tiny Release with every field debfleet reads.
cat > Release <<'REL'
Origin: Debfleet Test
Label: Debfleet Test Label
Suite: stable
Codename: testing-fixture
Version: 1.2
Date: Sun, 01 Jun 2025 12:00:00 UTC
Valid-Until: Tue, 01 Jun 2027 12:00:00 +0000
Acquire-By-Hash: yes
NotAutomatic: yes
ButAutomaticUpgrades: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64
Components: main contrib
Description: debfleet OpenPGP test fixture
MD5Sum:
 d41d8cd98f00b204e9800998ecf8427e        0 main/binary-amd64/Packages
 7215ee9c7d9dc229d2921a40e899ec5f       20 main/binary-amd64/Packages.xz
SHA256:
 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 main/binary-amd64/Packages
 36a9e7f1c95b82ffb99743e0c5c4ce95d83c9a430aac59f84ef3cbfab6145068       20 main/binary-amd64/Packages.xz
 bebd3f2afc8ec2d1a7f2d5a3d4ffc0b5ea00a7a0ef0e1a6c2d0a2bde1fdb2a0c     1234 contrib/binary-arm64/Packages.xz
REL

# 3. Clear-signed (InRelease) and detached (Release.gpg) signatures.
g $SIGTIME --digest-algo SHA256 -u "$GOOD" --clearsign -o InRelease Release
g $SIGTIME --digest-algo SHA256 -u "$GOOD" -u "$SECOND" --clearsign -o two-signers.InRelease Release
g $SIGTIME --digest-algo SHA256 -u "$GOOD" --armor --detach-sign -o Release.gpg Release
g 20240601T120000 --digest-algo SHA256 -u "$EXPIRED" --clearsign -o expired-key.InRelease Release
g $SIGTIME --digest-algo SHA256 -u "$REVOKED" --clearsign -o revoked-key.InRelease Release
g $SIGTIME --digest-algo SHA1 -u "$SECOND" --clearsign -o sha1.InRelease Release
g 20300101T000000 --digest-algo SHA256 -u "$GOOD" --clearsign -o future.InRelease Release

# Two signatures, the second one BAD: "second" signs a different text and
# its signature packet is spliced next to the good one.
{ cat Release; echo 'Tampered: yes'; } > "$work/Release.other"
g $SIGTIME --digest-algo SHA256 -u "$SECOND" --clearsign -o "$work/other.asc" "$work/Release.other"
sigblock() { sed -n '/^-----BEGIN PGP SIGNATURE-----$/,/^-----END PGP SIGNATURE-----$/p' "$1"; }
sigblock InRelease | gpg --batch --dearmor > "$work/a.bin"
sigblock "$work/other.asc" | gpg --batch --dearmor > "$work/b.bin"
cat "$work/a.bin" "$work/b.bin" | gpg --batch --enarmor \
    | sed -e 's/PGP ARMORED FILE/PGP SIGNATURE/' -e '/^Comment:/d' > "$work/ab.asc"
{ sed -n '1,/^-----BEGIN PGP SIGNATURE-----$/p' InRelease | sed '$d'; cat "$work/ab.asc"; } \
    > one-bad.InRelease

# Dash-escaping and trailing whitespace (RFC 4880 section 7.1): gpg escapes
# lines starting with '-' and leaves trailing blanks out of the hash.
printf '%s\n' 'Plain line' '- starts with a dash' '-----BEGIN PGP SIGNED MESSAGE-----' \
    'trailing blanks   ' "trailing tab	" '--' 'last line' > dash-escaped.txt
g $SIGTIME --digest-algo SHA256 -u "$GOOD" --clearsign -o dash-escaped.InRelease dash-escaped.txt

# Revoke after signing.
rev="$GNUPGHOME/openpgp-revocs.d/$REVOKED.rev"
sed 's/^:-----BEGIN/-----BEGIN/' "$rev" > "$work/revoke.asc"
g $SIGTIME --import "$work/revoke.asc"

# 4. Public keyrings.
g $SIGTIME --export "$GOOD" > good.gpg
g $SIGTIME --armor --export "$GOOD" "$SECOND" > good-second.asc
g $SIGTIME --export "$SECOND" > second.gpg
g $SIGTIME --export "$EXPIRED" > expired.gpg
g $SIGTIME --export "$REVOKED" > revoked.gpg
g $SIGTIME --export "$GOOD" "$SECOND" "$EXPIRED" "$REVOKED" > all.gpg

printf 'good %s\nsecond %s\nexpired %s\nrevoked %s\n' \
    "$GOOD" "$SECOND" "$EXPIRED" "$REVOKED" > fingerprints.txt
echo "fixtures regenerated in $here"
