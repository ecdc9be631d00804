/* Repositories (/etc/apk/repositories, -X), signed index download, cache and parsing. */
#include "apk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sig_scan {
	struct apk_ctx *c;
	const char *what;
	const unsigned char *signed_data;
	size_t signed_len;
	int found, verified, only_sigs;
	char *keyname;    /* the key that verified, or the last key named */
	char *missing;    /* a named key not in /etc/apk/keys */
	char *badkey;     /* a key whose signature did not verify */
};

static int sig_entry(struct tar_entry *e, void *ctx)
{
	struct sig_scan *s = ctx;
	int md;
	const char *kn;
	if (!strncmp(e->name, ".SIGN.RSA256.", 13))
		md = 256, kn = e->name + 13;
	else if (!strncmp(e->name, ".SIGN.RSA.", 10))
		md = 1, kn = e->name + 10;
	else {
		s->only_sigs = 0;
		return 0;
	}
	s->found = 1;
	if (s->verified || strchr(kn, '/') || !*kn)
		return 0;
	char *rel = xasprintf("etc/apk/keys/%s", kn);
	char *kp = rootpath(s->c, rel);
	free(rel);
	if (access(kp, R_OK) < 0) {
		free(s->missing);
		s->missing = xstrdup(kn);
	} else if (rsa_verify(kp, md, s->signed_data, s->signed_len, e->data, e->size) == 0) {
		s->verified = 1;
		free(s->keyname);
		s->keyname = xstrdup(kn);
	} else {
		free(s->badkey);
		s->badkey = xstrdup(kn);
	}
	free(kp);
	return 0;
}

int verify_signed(struct apk_ctx *c, const char *what, const unsigned char *raw,
		  struct gz_member *m, int nm, char **keyname_out)
{
	struct sig_scan s = {.c = c, .what = what, .only_sigs = 1};
	const char *msg;
	if (nm >= 2) {
		s.signed_data = raw + m[1].off;
		s.signed_len = m[1].len;
		if (tar_walk(m[0].data.p, m[0].data.len, sig_entry, &s, &msg) < 0)
			s.found = 0;
	}
	int content = (s.found && s.only_sigs) ? 1 : 0;
	int ok = s.verified;
	if (!ok) {
		if (s.badkey)
			apk_err("%s: BAD signature: it does not verify with key %s", what, s.badkey);
		else if (s.missing)
			apk_err("%s: UNTRUSTED signature: key %s is not in %s/etc/apk/keys", what,
				s.missing, strcmp(c->root, "/") ? c->root : "");
		else
			apk_err("%s: UNTRUSTED: the file is not signed", what);
		if (c->allow_untrusted && !s.badkey) {
			apk_warn("%s: accepted anyway (--allow-untrusted)", what);
			ok = 1;
		}
	}
	if (keyname_out)
		*keyname_out = ok ? xstrdup(s.keyname ? s.keyname : "(untrusted)") : NULL;
	free(s.keyname);
	free(s.missing);
	free(s.badkey);
	return ok ? content : -1;
}

int repos_load(struct apk_ctx *c)
{
	char *path = rootpath(c, "etc/apk/repositories");
	struct buf b = {0};
	int r = read_file(path, &b);
	free(path);
	char **urls = NULL, **tags = NULL;
	int n = 0;
	if (r == 0) {
		char *save = NULL;
		for (char *l = strtok_r((char *)b.p, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			while (*l == ' ' || *l == '\t')
				l++;
			size_t e = strlen(l);
			while (e && (l[e - 1] == ' ' || l[e - 1] == '\t' || l[e - 1] == '\r'))
				l[--e] = 0;
			if (!*l || *l == '#')
				continue;
			char *tag = NULL;
			if (*l == '@') {
				char *sp = strpbrk(l, " \t");
				if (!sp)
					continue;
				tag = xstrndup(l + 1, sp - l - 1);
				l = sp + strspn(sp, " \t");
			}
			urls = xrealloc(urls, (n + 1) * sizeof *urls);
			tags = xrealloc(tags, (n + 1) * sizeof *tags);
			urls[n] = xstrdup(l);
			tags[n++] = tag;
		}
	}
	buf_free(&b);
	for (int i = 0; i < c->nextra; i++) {
		urls = xrealloc(urls, (n + 1) * sizeof *urls);
		tags = xrealloc(tags, (n + 1) * sizeof *tags);
		urls[n] = xstrdup(c->extra_repos[i]);
		tags[n++] = NULL;
	}
	c->repos = xmalloc((n ? n : 1) * sizeof *c->repos);
	memset(c->repos, 0, (n ? n : 1) * sizeof *c->repos);
	for (int i = 0; i < n; i++) {
		size_t l = strlen(urls[i]);
		while (l > 1 && urls[i][l - 1] == '/')
			urls[i][--l] = 0;
		c->repos[i].url = urls[i];
		c->repos[i].tag = tags[i];
	}
	c->nrepos = n;
	free(urls);
	free(tags);
	return 0;
}

static int is_remote(const char *url) { return !strncmp(url, "http://", 7); }

char *repo_cache_path(struct apk_ctx *c, int i)
{
	unsigned char h[20];
	char hx[41];
	sha1(c->repos[i].url, strlen(c->repos[i].url), h);
	hex(h, 4, hx);
	char *rel = xasprintf("var/cache/apk/APKINDEX.%s.tar.gz", hx);
	char *p = rootpath(c, rel);
	free(rel);
	return p;
}

struct index_scan {
	struct apk_ctx *c;
	int repo;
	int found;
};

static int index_entry(struct tar_entry *e, void *ctx)
{
	struct index_scan *s = ctx;
	if (!strcmp(e->name, "DESCRIPTION")) {
		size_t l = strcspn((const char *)e->data, "\n");
		if (l > e->size)
			l = e->size;
		free(s->c->repos[s->repo].description);
		s->c->repos[s->repo].description = xstrndup((const char *)e->data, l);
	} else if (!strcmp(e->name, "APKINDEX")) {
		s->found = 1;
		index_parse(s->c, e->data, e->size, s->repo);
	}
	return 0;
}

int index_parse(struct apk_ctx *c, const unsigned char *text, size_t n, int repo)
{
	struct pkg *p = NULL;
	size_t off = 0;
	int count = 0;
	while (off <= n) {
		const char *l = (const char *)text + off;
		const char *nl = memchr(l, '\n', n - off);
		size_t len = nl ? (size_t)(nl - l) : n - off;
		off += len + 1;
		if (len < 2 || l[1] != ':') {
			if (p && p->name && p->version) {
				c->avail = xrealloc(c->avail, (c->navail + 1) * sizeof *c->avail);
				c->avail[c->navail++] = p;
				count++;
			} else {
				pkg_free(p);
			}
			p = NULL;
			if (!nl)
				break;
			continue;
		}
		if (!p) {
			p = pkg_new();
			p->repo = repo;
		}
		char *v = xstrndup(l + 2, len - 2);
		pkg_set_field(p, l[0], v);
		free(v);
	}
	if (p && p->name && p->version) {
		c->avail = xrealloc(c->avail, (c->navail + 1) * sizeof *c->avail);
		c->avail[c->navail++] = p;
		count++;
	} else {
		pkg_free(p);
	}
	return count;
}

/* Loads repository i: from the cache, or (when forced or missing) from the network. */
int repo_update(struct apk_ctx *c, int i, int force)
{
	struct repo *r = &c->repos[i];
	char *url = xasprintf("%s/%s/APKINDEX.tar.gz", r->url, c->arch);
	char *cache = is_remote(r->url) ? repo_cache_path(c, i) : NULL;
	struct buf raw = {0};
	int fetched = 0, ret = -1;
	struct stat st;
	if (cache && !force && stat(cache, &st) == 0) {
		if (read_file(cache, &raw) < 0) {
			apk_err("%s: cannot read the cached index", cache);
			goto out;
		}
	} else if (cache && c->no_network) {
		apk_warn("%s: no cached index and --no-network", url);
		goto out;
	} else {
		char err[512];
		apk_dbg("fetch %s", url);
		if (fetch_url(url, &raw, "APKINDEX.tar.gz", err, sizeof err) < 0) {
			apk_warn("%s: %s", r->url, err);
			goto out;
		}
		fetched = 1;
	}
	struct gz_member *m = NULL;
	const char *msg;
	int nm = gz_split(raw.p, raw.len, &m, &msg);
	if (nm < 0) {
		apk_err("%s: %s", url, msg);
		goto out;
	}
	int content = verify_signed(c, url, raw.p, m, nm, NULL);
	if (content < 0 || content >= nm) {
		if (content >= nm)
			apk_err("%s: the index has no content", url);
		gz_free(m, nm);
		goto out;
	}
	struct index_scan s = {c, i, 0};
	int before = c->navail;
	for (int k = content; k < nm; k++)
		if (tar_walk(m[k].data.p, m[k].data.len, index_entry, &s, &msg) < 0) {
			apk_err("%s: %s", url, msg);
			gz_free(m, nm);
			goto out;
		}
	gz_free(m, nm);
	if (!s.found) {
		apk_err("%s: no APKINDEX in the index archive", url);
		goto out;
	}
	r->npkgs = c->navail - before;
	r->ok = 1;
	if (fetched && cache && !c->simulate) {
		char *dir = rootpath(c, "var/cache/apk");
		mkdirs(dir, 0755);
		free(dir);
		int w = write_file_atomic(cache, raw.p, raw.len, 0644);
		if (w < 0)
			apk_warn("%s: cannot write the index cache: %s", cache, strerror(-w));
	}
	ret = 0;
out:
	buf_free(&raw);
	free(url);
	free(cache);
	return ret;
}
