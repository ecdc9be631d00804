/* Reading an .apk: signature, control (.PKGINFO, scripts) and data members, with every
 * check made before anything is written: signature, index C:, datahash, file SHA-1s. */
#include "apk.h"

#include <stdlib.h>
#include <string.h>

static const char *const script_names[] = {
    ".pre-install",   ".post-install",   ".pre-upgrade", ".post-upgrade",
    ".pre-deinstall", ".post-deinstall", ".trigger",
};

struct ctrl_scan {
	struct apk_file *f;
	char *datahash;
	int have_pkginfo;
};

static void pkginfo_parse(struct pkg *p, const char *text, size_t n, char **datahash)
{
	char *s = xstrndup(text, n), *save = NULL;
	for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (*l == '#')
			continue;
		char *eq = strstr(l, " = ");
		if (!eq)
			continue;
		*eq = 0;
		const char *k = l, *v = eq + 3;
		static const struct { const char *key; char letter; } map[] = {
		    {"pkgname", 'P'}, {"pkgver", 'V'},  {"pkgdesc", 'T'},     {"url", 'U'},
		    {"size", 'I'},    {"arch", 'A'},    {"origin", 'o'},      {"license", 'L'},
		    {"maintainer", 'm'}, {"builddate", 't'}, {"depend", 'D'}, {"provides", 'p'},
		    {"install_if", 'i'}, {"commit", 'c'},
		};
		for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
			if (!strcmp(k, map[i].key))
				pkg_set_field(p, map[i].letter, v);
		if (!strcmp(k, "datahash")) {
			free(*datahash);
			*datahash = xstrdup(v);
		}
	}
	free(s);
}

static int ctrl_entry(struct tar_entry *e, void *ctx)
{
	struct ctrl_scan *s = ctx;
	if (!strcmp(e->name, ".PKGINFO")) {
		pkginfo_parse(s->f->info, (const char *)e->data, e->size, &s->datahash);
		s->have_pkginfo = 1;
		return 0;
	}
	for (size_t i = 0; i < sizeof script_names / sizeof script_names[0]; i++) {
		if (strcmp(e->name, script_names[i]) || s->f->nscripts >= 8)
			continue;
		struct apk_file *f = s->f;
		f->scripts[f->nscripts].name = xstrdup(e->name + 1);
		memset(&f->scripts[f->nscripts].body, 0, sizeof(struct buf));
		buf_add(&f->scripts[f->nscripts].body, e->data, e->size);
		f->nscripts++;
	}
	return 0;
}

struct data_check {
	const char *label;
	int bad;
};

static int data_entry(struct tar_entry *e, void *ctx)
{
	struct data_check *d = ctx;
	if (e->name[0] == '/' || strstr(e->name, "../") || !strcmp(e->name, "..")) {
		apk_err("%s: unsafe path in the data: %s", d->label, e->name);
		return d->bad = 1;
	}
	if (e->type != '0')
		return 0;
	unsigned char h[20];
	char hx[41];
	sha1(e->data, e->size, h);
	hex(h, 20, hx);
	if (!e->sha1hex) {
		apk_err("%s: %s has no APK-TOOLS.checksum.SHA1 record", d->label, e->name);
		return d->bad = 1;
	}
	if (strcmp(hx, e->sha1hex)) {
		apk_err("%s: %s: checksum mismatch (sha1 %s, package says %s)", d->label,
			e->name, hx, e->sha1hex);
		return d->bad = 1;
	}
	return 0;
}

int apk_file_load(struct apk_ctx *c, const char *label, struct buf *raw, const char *expect_csum,
		  struct apk_file *f)
{
	memset(f, 0, sizeof *f);
	f->raw = *raw;
	memset(raw, 0, sizeof *raw);
	const char *msg;
	f->nm = gz_split(f->raw.p, f->raw.len, &f->m, &msg);
	if (f->nm < 0) {
		apk_err("%s: %s", label, msg);
		return -1;
	}
	int content = verify_signed(c, label, f->raw.p, f->m, f->nm, &f->keyname);
	if (content < 0)
		return -1;
	if (f->nm - content != 2) {
		apk_err("%s: expected control and data members, found %d gzip members", label,
			f->nm);
		return -1;
	}
	f->ctrl = content;
	f->data = content + 1;
	if (expect_csum && *expect_csum) {
		unsigned char h[20];
		char q[40];
		sha1(f->raw.p + f->m[f->ctrl].off, f->m[f->ctrl].len, h);
		strcpy(q, "Q1");
		b64(h, 20, q + 2);
		if (strcmp(q, expect_csum)) {
			apk_err("%s: control checksum %s does not match the index's C:%s", label, q,
				expect_csum);
			return -1;
		}
	}
	f->info = pkg_new();
	struct ctrl_scan cs = {f, NULL, 0};
	if (tar_walk(f->m[f->ctrl].data.p, f->m[f->ctrl].data.len, ctrl_entry, &cs, &msg) < 0 ||
	    !cs.have_pkginfo || !f->info->name || !f->info->version) {
		apk_err("%s: %s", label, msg ? msg : "no usable .PKGINFO");
		free(cs.datahash);
		return -1;
	}
	{
		unsigned char h[20];
		char q[40];
		sha1(f->raw.p + f->m[f->ctrl].off, f->m[f->ctrl].len, h);
		strcpy(q, "Q1");
		b64(h, 20, q + 2);
		f->info->csum = xstrdup(q);
		f->info->size = f->raw.len;
	}
	unsigned char dh[32];
	char dhx[65];
	sha256(f->raw.p + f->m[f->data].off, f->m[f->data].len, dh);
	hex(dh, 32, dhx);
	if (!cs.datahash) {
		apk_err("%s: .PKGINFO has no datahash", label);
		return -1;
	}
	if (strcmp(dhx, cs.datahash)) {
		apk_err("%s: data checksum mismatch (sha256 %s, .PKGINFO datahash %s)", label, dhx,
			cs.datahash);
		free(cs.datahash);
		return -1;
	}
	free(cs.datahash);
	struct data_check dc = {label, 0};
	if (tar_walk(f->m[f->data].data.p, f->m[f->data].data.len, data_entry, &dc, &msg) < 0) {
		apk_err("%s: data: %s", label, msg);
		return -1;
	}
	return dc.bad ? -1 : 0;
}

void apk_file_free(struct apk_file *f)
{
	buf_free(&f->raw);
	gz_free(f->m, f->nm > 0 ? f->nm : 0);
	pkg_free(f->info);
	for (int i = 0; i < f->nscripts; i++) {
		free(f->scripts[i].name);
		buf_free(&f->scripts[i].body);
	}
	free(f->keyname);
	memset(f, 0, sizeof *f);
}

const struct buf *apk_file_script(const struct apk_file *f, const char *name)
{
	for (int i = 0; i < f->nscripts; i++)
		if (!strcmp(f->scripts[i].name, name))
			return &f->scripts[i].body;
	return NULL;
}
