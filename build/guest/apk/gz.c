/* gzip: apk files are several gzip members back to back, and the signatures cover the
 * compressed bytes of one member, so each member's byte range is kept. */
#include "apk.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int gz_split(const unsigned char *p, size_t n, struct gz_member **out, const char **msg)
{
	struct gz_member *m = NULL;
	int nm = 0;
	size_t off = 0;
	*msg = NULL;
	while (off < n) {
		if (n - off < 18 || p[off] != 0x1f || p[off + 1] != 0x8b) {
			*msg = nm ? "trailing bytes after the last gzip member" : "not gzip data";
			goto fail;
		}
		z_stream z;
		memset(&z, 0, sizeof z);
		if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
			*msg = "zlib init failed";
			goto fail;
		}
		m = xrealloc(m, (nm + 1) * sizeof *m);
		struct gz_member *cur = &m[nm++];
		memset(cur, 0, sizeof *cur);
		cur->off = off;
		z.next_in = (unsigned char *)p + off;
		z.avail_in = n - off;
		unsigned char tmp[65536];
		int r;
		do {
			z.next_out = tmp;
			z.avail_out = sizeof tmp;
			r = inflate(&z, Z_NO_FLUSH);
			if (r != Z_OK && r != Z_STREAM_END) {
				inflateEnd(&z);
				*msg = r == Z_BUF_ERROR ? "truncated gzip data" : "corrupt gzip data";
				goto fail;
			}
			buf_add(&cur->data, tmp, sizeof tmp - z.avail_out);
		} while (r != Z_STREAM_END);
		size_t used = (n - off) - z.avail_in;
		inflateEnd(&z);
		cur->len = used;
		off += used;
	}
	*out = m;
	return nm;
fail:
	gz_free(m, nm);
	return -1;
}

void gz_free(struct gz_member *m, int n)
{
	for (int i = 0; i < n; i++)
		buf_free(&m[i].data);
	free(m);
}

int gz_compress(const void *data, size_t n, struct buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)data;
	z.avail_in = n;
	unsigned char tmp[65536];
	int r;
	do {
		z.next_out = tmp;
		z.avail_out = sizeof tmp;
		r = deflate(&z, Z_FINISH);
		buf_add(out, tmp, sizeof tmp - z.avail_out);
	} while (r == Z_OK);
	deflateEnd(&z);
	return r == Z_STREAM_END ? 0 : -1;
}
