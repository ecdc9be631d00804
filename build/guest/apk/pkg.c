/* Package records in the index letters shared by APKINDEX and lib/apk/db/installed. */
#include "apk.h"

#include <stdlib.h>
#include <string.h>

struct pkg *pkg_new(void)
{
	struct pkg *p = xmalloc(sizeof *p);
	memset(p, 0, sizeof *p);
	p->repo = -1;
	return p;
}

void pkg_free(struct pkg *p)
{
	if (!p)
		return;
	free(p->name), free(p->version), free(p->arch), free(p->desc), free(p->url);
	free(p->license), free(p->origin), free(p->maintainer), free(p->csum), free(p->commit);
	free(p->install_if), free(p->filename);
	for (int i = 0; i < p->ndeps; i++)
		dep_free(&p->deps[i]);
	free(p->deps);
	for (int i = 0; i < p->nprovides; i++)
		dep_free(&p->provides[i]);
	free(p->provides);
	for (int i = 0; i < p->ndirs; i++) {
		for (int j = 0; j < p->dirs[i].nfiles; j++)
			free(p->dirs[i].files[j].name);
		free(p->dirs[i].files);
		free(p->dirs[i].name);
	}
	free(p->dirs);
	free(p);
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

static void add_deps(struct dep **list, int *n, const char *v, int provides)
{
	char *s = xstrdup(v), *save = NULL;
	for (char *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		struct dep d;
		if (dep_parse(t, &d) < 0) {
			apk_warn("ignoring malformed dependency '%s'", t);
			continue;
		}
		if (provides && d.op != OP_ANY && d.op != OP_EQ) {
			dep_free(&d);
			continue;
		}
		*list = xrealloc(*list, (*n + 1) * sizeof **list);
		(*list)[(*n)++] = d;
	}
	free(s);
}

void pkg_set_field(struct pkg *p, char letter, const char *v)
{
	switch (letter) {
	case 'P': set_str(&p->name, v); break;
	case 'V': set_str(&p->version, v); break;
	case 'A': set_str(&p->arch, v); break;
	case 'T': set_str(&p->desc, v); break;
	case 'U': set_str(&p->url, v); break;
	case 'L': set_str(&p->license, v); break;
	case 'o': set_str(&p->origin, v); break;
	case 'm': set_str(&p->maintainer, v); break;
	case 'C': set_str(&p->csum, v); break;
	case 'c': set_str(&p->commit, v); break;
	case 'i': set_str(&p->install_if, v); break;
	case 'S': p->size = atoll(v); break;
	case 'I': p->isize = atoll(v); break;
	case 't': p->buildtime = atoll(v); break;
	case 'D': add_deps(&p->deps, &p->ndeps, v, 0); break;
	case 'p': add_deps(&p->provides, &p->nprovides, v, 1); break;
	}
}

static void put(struct buf *o, char l, const char *v)
{
	if (v && *v)
		buf_printf(o, "%c:%s\n", l, v);
}

static void put_deps(struct buf *o, char l, const struct dep *d, int n)
{
	if (!n)
		return;
	buf_printf(o, "%c:", l);
	for (int i = 0; i < n; i++) {
		char *s = dep_format(&d[i]);
		buf_printf(o, "%s%s", i ? " " : "", s);
		free(s);
	}
	buf_addstr(o, "\n");
}

void pkg_write_record(struct buf *o, const struct pkg *p, int with_files)
{
	put(o, 'C', p->csum);
	put(o, 'P', p->name);
	put(o, 'V', p->version);
	put(o, 'A', p->arch);
	buf_printf(o, "S:%lld\nI:%lld\n", p->size, p->isize);
	put(o, 'T', p->desc);
	put(o, 'U', p->url);
	put(o, 'L', p->license);
	put(o, 'o', p->origin);
	put(o, 'm', p->maintainer);
	if (p->buildtime)
		buf_printf(o, "t:%lld\n", p->buildtime);
	put(o, 'c', p->commit);
	put_deps(o, 'D', p->deps, p->ndeps);
	put_deps(o, 'p', p->provides, p->nprovides);
	put(o, 'i', p->install_if);
	if (!with_files)
		return;
	for (int i = 0; i < p->ndirs; i++) {
		const struct dir_rec *d = &p->dirs[i];
		buf_printf(o, "F:%s\n", d->name);
		if (d->have_acl)
			buf_printf(o, "M:%u:%u:%o\n", d->uid, d->gid, d->mode);
		for (int j = 0; j < d->nfiles; j++) {
			const struct file_rec *f = &d->files[j];
			buf_printf(o, "R:%s\n", f->name);
			if (f->uid || f->gid || f->mode != 0644)
				buf_printf(o, "a:%u:%u:%o\n", f->uid, f->gid, f->mode);
			if (f->csum[0])
				buf_printf(o, "Z:%s\n", f->csum);
		}
	}
}

char *pkg_nv(const struct pkg *p) { return xasprintf("%s-%s", p->name, p->version); }
