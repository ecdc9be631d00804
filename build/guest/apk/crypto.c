/* Hashes and RSA signature checks through mbedtls. Written against mbedtls 3.x; the
 * few names 2.x spells differently (Debian's native libmbedtls-dev) are mapped below. */
#include "apk.h"

#include <mbedtls/pk.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <string.h>

#if MBEDTLS_VERSION_MAJOR < 3
#define mbedtls_sha1_starts mbedtls_sha1_starts_ret
#define mbedtls_sha1_update mbedtls_sha1_update_ret
#define mbedtls_sha1_finish mbedtls_sha1_finish_ret
#define mbedtls_sha256_starts mbedtls_sha256_starts_ret
#define mbedtls_sha256_update mbedtls_sha256_update_ret
#define mbedtls_sha256_finish mbedtls_sha256_finish_ret
#endif

void sha1(const void *data, size_t n, unsigned char out[20])
{
	mbedtls_sha1_context c;
	mbedtls_sha1_init(&c);
	mbedtls_sha1_starts(&c);
	mbedtls_sha1_update(&c, data, n);
	mbedtls_sha1_finish(&c, out);
	mbedtls_sha1_free(&c);
}

void sha256(const void *data, size_t n, unsigned char out[32])
{
	mbedtls_sha256_context c;
	mbedtls_sha256_init(&c);
	mbedtls_sha256_starts(&c, 0);
	mbedtls_sha256_update(&c, data, n);
	mbedtls_sha256_finish(&c, out);
	mbedtls_sha256_free(&c);
}

void hex(const unsigned char *h, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[2 * n] = 0;
}

void b64(const unsigned char *h, size_t n, char *out)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = h[i] << 16;
		if (i + 1 < n)
			v |= h[i + 1] << 8;
		if (i + 2 < n)
			v |= h[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = 0;
}

int rsa_verify(const char *keypath, int md, const void *data, size_t n,
	       const unsigned char *sig, size_t siglen)
{
	struct buf key = {0};
	if (read_file(keypath, &key) < 0)
		return -2;
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	/* PEM parsing needs the terminating NUL counted in the length. */
	int r = mbedtls_pk_parse_public_key(&pk, key.p, key.len + 1);
	buf_free(&key);
	if (r != 0 || !mbedtls_pk_can_do(&pk, MBEDTLS_PK_RSA)) {
		mbedtls_pk_free(&pk);
		return -2;
	}
	unsigned char h[32];
	mbedtls_md_type_t t;
	size_t hl;
	if (md == 1) {
		sha1(data, n, h);
		t = MBEDTLS_MD_SHA1;
		hl = 20;
	} else {
		sha256(data, n, h);
		t = MBEDTLS_MD_SHA256;
		hl = 32;
	}
	r = mbedtls_pk_verify(&pk, t, h, hl, sig, siglen);
	mbedtls_pk_free(&pk);
	return r == 0 ? 0 : -1;
}
