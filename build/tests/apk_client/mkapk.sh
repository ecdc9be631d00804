#!/bin/sh
# Builds an apk v2 package with the stock tools (tar, gzip -n, openssl), independently of
# the Rust writer, and prints its APKINDEX record on stdout.
# usage: mkapk.sh KEY.pem KEYNAME PKGDIR OUT.apk
#   PKGDIR/PKGINFO   .PKGINFO lines without size/datahash
#   PKGDIR/files/    the installed tree
#   PKGDIR/scripts/  optional .pre-install, .post-install, …
# (GNU tar writes the checksum as a per-file PAX record; it also adds atime/ctime, which
# readers ignore.)
# TAMPER=1: after the datahash is computed, one file is changed (a tampered data stream).
set -eu
key=$1 keyname=$2 pkg=$3 out=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarflags="--numeric-owner --owner=0 --group=0 --mtime=@0 --no-recursion -b1"

# A tar segment: the archive without its two end-of-archive blocks.
segment() { head -c -1024; }

data_tar() {
	(cd "$pkg/files" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./||' | while read -r p; do
		if [ -f "$p" ] && [ ! -L "$p" ]; then
			sum=$(sha1sum "$p" | cut -d' ' -f1)
			tar $tarflags --format=pax \
				--pax-option="APK-TOOLS.checksum.SHA1:=$sum" \
				-cf - "$p" | segment
		else
			tar $tarflags --format=ustar -cf - "$p" | segment
		fi
	done
	head -c 1024 /dev/zero)
}

data_tar | gzip -n -9 > "$work/data.tar.gz"
datahash=$(sha256sum "$work/data.tar.gz" | cut -d' ' -f1)
if [ "${TAMPER:-}" = 1 ]; then
	f=$(cd "$pkg/files" && find . -type f | LC_ALL=C sort | head -1)
	printf 'tampered\n' >> "$pkg/files/$f"
	data_tar | gzip -n -9 > "$work/data.tar.gz"
fi
size=$(cd "$pkg/files" && find . -type f -exec cat {} + | wc -c)

mkdir "$work/ctrl"
cp "$pkg/PKGINFO" "$work/ctrl/.PKGINFO"
printf 'size = %s\ndatahash = %s\n' "$size" "$datahash" >> "$work/ctrl/.PKGINFO"
names=.PKGINFO
if [ -d "$pkg/scripts" ]; then
	for s in "$pkg"/scripts/.[a-z]*; do
		[ -e "$s" ] || continue
		cp "$s" "$work/ctrl/" && chmod 755 "$work/ctrl/${s##*/}"
		names="$names ${s##*/}"
	done
fi
(cd "$work/ctrl" && tar $tarflags --format=ustar -cf - $names | segment) | gzip -n -9 > "$work/control.tar.gz"

mkdir "$work/sig"
openssl dgst -sha256 -sign "$key" -out "$work/sig/.SIGN.RSA256.$keyname" "$work/control.tar.gz"
(cd "$work/sig" && tar $tarflags --format=ustar -cf - ".SIGN.RSA256.$keyname" | segment) | gzip -n -9 > "$work/sig.tar.gz"

cat "$work/sig.tar.gz" "$work/control.tar.gz" "$work/data.tar.gz" > "$out"

# The index record.
printf 'C:Q1%s\n' "$(openssl dgst -sha1 -binary "$work/control.tar.gz" | base64)"
awk -F' = ' -v S="$(wc -c < "$out")" -v I="$size" '
	$1=="pkgname"{P=$2} $1=="pkgver"{V=$2} $1=="arch"{A=$2} $1=="pkgdesc"{T=$2}
	$1=="url"{U=$2} $1=="license"{L=$2} $1=="origin"{o=$2} $1=="builddate"{t=$2}
	$1=="depend"{D=D (D?" ":"") $2} $1=="provides"{p=p (p?" ":"") $2}
	END{printf "P:%s\nV:%s\nA:%s\nS:%s\nI:%s\nT:%s\nU:%s\nL:%s\no:%s\nt:%s\n",P,V,A,S,I,T,U,L,o,t;
	    if(D)print "D:" D; if(p)print "p:" p; print ""}' "$work/ctrl/.PKGINFO"
