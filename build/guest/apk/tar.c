/* tar: ustar headers with PAX ('x') and GNU long-name ('L', 'K') records; apk puts the
 * per-file SHA-1 in a PAX record. */
#include "apk.h"

#include <stdlib.h>
#include <string.h>

static unsigned long long octal(const unsigned char *s, size_t n)
{
	unsigned long long v = 0;
	if (n && (s[0] & 0x80)) { /* base-256 */
		for (size_t i = 1; i < n; i++)
			v = (v << 8) | s[i];
		return v;
	}
	for (size_t i = 0; i < n && s[i]; i++) {
		if (s[i] == ' ')
			continue;
		if (s[i] < '0' || s[i] > '7')
			break;
		v = v * 8 + (s[i] - '0');
	}
	return v;
}

static int zero_block(const unsigned char *b)
{
	for (int i = 0; i < 512; i++)
		if (b[i])
			return 0;
	return 1;
}

int tar_walk(const unsigned char *p, size_t n, tar_cb cb, void *ctx, const char **msg)
{
	size_t off = 0;
	char *longname = NULL, *longlink = NULL, *paxpath = NULL, *paxlink = NULL,
	     *paxsha = NULL;
	int ret = 0;
	*msg = NULL;
	while (off + 512 <= n) {
		const unsigned char *h = p + off;
		if (zero_block(h))
			break;
		unsigned sum = 0;
		for (int i = 0; i < 512; i++)
			sum += (i >= 148 && i < 156) ? ' ' : h[i];
		if (sum != octal(h + 148, 8)) {
			*msg = "bad tar header checksum";
			ret = -1;
			break;
		}
		unsigned long long size = octal(h + 124, 12);
		size_t body = off + 512;
		if (size > n - body) {
			*msg = "truncated tar entry";
			ret = -1;
			break;
		}
		char type = h[156] ? h[156] : '0';
		off = body + ((size + 511) & ~511ULL);
		if (type == 'L' || type == 'K') {
			char **dst = type == 'L' ? &longname : &longlink;
			free(*dst);
			*dst = xstrndup((const char *)p + body, strnlen((const char *)p + body, size));
			continue;
		}
		if (type == 'x') {
			size_t q = body, end = body + size;
			while (q < end) {
				unsigned long len = strtoul((const char *)p + q, NULL, 10);
				const char *sp = memchr(p + q, ' ', end - q);
				if (!len || !sp || q + len > end)
					break;
				const char *kv = sp + 1;
				const char *eq = memchr(kv, '=', (const char *)p + q + len - kv);
				if (eq) {
					size_t vl = (const char *)p + q + len - 1 - (eq + 1);
					char *val = xstrndup(eq + 1, vl);
					size_t kl = eq - kv;
					if (kl == 4 && !memcmp(kv, "path", 4)) {
						free(paxpath);
						paxpath = val;
					} else if (kl == 8 && !memcmp(kv, "linkpath", 8)) {
						free(paxlink);
						paxlink = val;
					} else if (kl == 23 && !memcmp(kv, "APK-TOOLS.checksum.SHA1", 23)) {
						free(paxsha);
						paxsha = val;
					} else {
						free(val);
					}
				}
				q += len;
			}
			continue;
		}
		if (type == 'g')
			continue;
		struct tar_entry e;
		memset(&e, 0, sizeof e);
		if (paxpath)
			e.name = paxpath;
		else if (longname)
			e.name = longname;
		else {
			char nm[257];
			size_t pl = strnlen((const char *)h + 345, 155);
			size_t bl = strnlen((const char *)h, 100);
			if (pl && !memcmp(h + 257, "ustar", 5)) {
				memcpy(nm, h + 345, pl);
				nm[pl] = '/';
				memcpy(nm + pl + 1, h, bl);
				nm[pl + 1 + bl] = 0;
			} else {
				memcpy(nm, h, bl);
				nm[bl] = 0;
			}
			e.name = xstrdup(nm);
		}
		if (paxlink)
			e.link = paxlink;
		else if (longlink)
			e.link = longlink;
		else
			e.link = xstrndup((const char *)h + 157, strnlen((const char *)h + 157, 100));
		paxpath = longname = paxlink = longlink = NULL;
		e.type = type == '7' ? '0' : type;
		e.mode = octal(h + 100, 8) & 07777;
		e.uid = octal(h + 108, 8);
		e.gid = octal(h + 116, 8);
		e.mtime = octal(h + 136, 12);
		e.data = p + body;
		e.size = (e.type == '0') ? size : 0;
		e.sha1hex = paxsha;
		paxsha = NULL;
		/* Drop a leading "./" and trailing "/" so names compare as apk writes them. */
		char *nm = e.name;
		while (nm[0] == '.' && nm[1] == '/')
			nm += 2;
		memmove(e.name, nm, strlen(nm) + 1);
		size_t l = strlen(e.name);
		while (l > 1 && e.name[l - 1] == '/')
			e.name[--l] = 0;
		int r = cb(&e, ctx);
		free(e.name);
		free(e.link);
		free(e.sha1hex);
		if (r) {
			ret = r;
			break;
		}
	}
	free(longname);
	free(longlink);
	free(paxpath);
	free(paxlink);
	free(paxsha);
	return ret;
}

static void put_octal(unsigned char *dst, size_t n, unsigned long long v)
{
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%0*llo", (int)n - 1, v);
	memcpy(dst, tmp, n - 1);
	dst[n - 1] = 0;
}

void tar_write_file(struct buf *out, const char *name, unsigned mode, const void *data,
		    size_t n, long long mtime)
{
	unsigned char h[512];
	memset(h, 0, sizeof h);
	strncpy((char *)h, name, 99);
	put_octal(h + 100, 8, mode);
	put_octal(h + 108, 8, 0);
	put_octal(h + 116, 8, 0);
	put_octal(h + 124, 12, n);
	put_octal(h + 136, 12, mtime);
	h[156] = '0';
	memcpy(h + 257, "ustar\0" "00", 8);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	buf_add(out, h, 512);
	buf_add(out, data, n);
	static const unsigned char zero[512];
	if (n % 512)
		buf_add(out, zero, 512 - n % 512);
}

void tar_write_end(struct buf *out)
{
	static const unsigned char zero[1024];
	buf_add(out, zero, 1024);
}
