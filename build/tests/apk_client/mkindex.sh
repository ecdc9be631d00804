#!/bin/sh
# Builds a signed APKINDEX.tar.gz from records on stdin (as mkapk.sh prints them).
# usage: mkindex.sh KEY.pem KEYNAME DESCRIPTION OUT
set -eu
key=$1 keyname=$2 desc=$3 out=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarflags="--numeric-owner --owner=0 --group=0 --mtime=@0 -b1"
mkdir "$work/idx" "$work/sig"
cat > "$work/idx/APKINDEX"
printf '%s\n' "$desc" > "$work/idx/DESCRIPTION"
(cd "$work/idx" && tar $tarflags --format=ustar -cf - DESCRIPTION APKINDEX) | gzip -n -9 > "$work/index.tar.gz"
openssl dgst -sha256 -sign "$key" -out "$work/sig/.SIGN.RSA256.$keyname" "$work/index.tar.gz"
(cd "$work/sig" && tar $tarflags --format=ustar -cf - ".SIGN.RSA256.$keyname" | head -c -1024) | gzip -n -9 > "$work/sig.tar.gz"
cat "$work/sig.tar.gz" "$work/index.tar.gz" > "$out"
