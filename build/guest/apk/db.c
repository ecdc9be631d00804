/* The installed database in apk-tools' layout: lib/apk/db/{installed,scripts.tar,lock},
 * etc/apk/world. */
#include "apk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void parse_installed(struct apk_ctx *c, const char *text, size_t n)
{
	struct pkg *p = NULL;
	struct dir_rec *d = NULL;
	struct file_rec *f = NULL;
	size_t off = 0;
	while (off <= n) {
		const char *l = text + off;
		const char *nl = memchr(l, '\n', n - off);
		size_t len = nl ? (size_t)(nl - l) : n - off;
		off += len + 1;
		if (len < 2 || l[1] != ':') {
			if (p) {
				c->inst = xrealloc(c->inst, (c->ninst + 1) * sizeof *c->inst);
				c->inst[c->ninst++] = p;
			}
			p = NULL;
			d = NULL;
			f = NULL;
			if (!nl)
				break;
			continue;
		}
		if (!p) {
			p = pkg_new();
			p->installed = 1;
		}
		char *v = xstrndup(l + 2, len - 2);
		switch (l[0]) {
		case 'F':
			p->dirs = xrealloc(p->dirs, (p->ndirs + 1) * sizeof *p->dirs);
			d = &p->dirs[p->ndirs++];
			memset(d, 0, sizeof *d);
			d->name = v;
			d->mode = 0755;
			f = NULL;
			continue;
		case 'R':
			if (!d)
				break;
			d->files = xrealloc(d->files, (d->nfiles + 1) * sizeof *d->files);
			f = &d->files[d->nfiles++];
			memset(f, 0, sizeof *f);
			f->name = v;
			f->mode = 0644;
			continue;
		case 'M':
		case 'a': {
			unsigned u = 0, g = 0, m = 0;
			sscanf(v, "%u:%u:%o", &u, &g, &m);
			if (f && l[0] == 'a')
				f->uid = u, f->gid = g, f->mode = m;
			else if (d)
				d->uid = u, d->gid = g, d->mode = m, d->have_acl = 1;
			break;
		}
		case 'Z':
			if (f)
				snprintf(f->csum, sizeof f->csum, "%s", v);
			break;
		default:
			pkg_set_field(p, l[0], v);
		}
		free(v);
	}
	if (p) {
		c->inst = xrealloc(c->inst, (c->ninst + 1) * sizeof *c->inst);
		c->inst[c->ninst++] = p;
	}
}

int db_initdb(struct apk_ctx *c)
{
	static const char *const dirs[] = {"etc/apk/keys", "lib/apk/db", "lib/apk/exec",
					   "var/cache/apk", "tmp"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char *p = rootpath(c, dirs[i]);
		int r = mkdirs(p, 0755);
		if (r < 0) {
			apk_err("%s: %s", p, strerror(-r));
			free(p);
			return -1;
		}
		free(p);
	}
	static const char *const files[] = {"lib/apk/db/installed", "etc/apk/world"};
	for (size_t i = 0; i < 2; i++) {
		char *p = rootpath(c, files[i]);
		if (access(p, F_OK) < 0) {
			int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		}
		free(p);
	}
	char *arch = rootpath(c, "etc/apk/arch");
	if (access(arch, F_OK) < 0) {
		char *line = xasprintf("%s\n", c->arch);
		write_file_atomic(arch, line, strlen(line), 0644);
		free(line);
	}
	free(arch);
	return 0;
}

int db_open(struct apk_ctx *c, int write)
{
	if (c->initdb && db_initdb(c) < 0)
		return -1;
	if (write && !c->simulate) {
		char *lp = rootpath(c, "lib/apk/db/lock");
		c->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (c->lockfd < 0) {
			apk_err("Unable to lock database: %s: %s", lp, strerror(errno));
			free(lp);
			return -1;
		}
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fcntl(c->lockfd, F_SETLK, &fl) < 0 && errno != ENOSYS && errno != EINVAL) {
			apk_err("Unable to lock database: %s: %s (is another apk running?)", lp,
				strerror(errno));
			free(lp);
			return -1;
		}
		free(lp);
	}
	struct buf b = {0};
	char *p = rootpath(c, "lib/apk/db/installed");
	int r = read_file(p, &b);
	if (r < 0 && r != -ENOENT) {
		apk_err("%s: %s", p, strerror(-r));
		free(p);
		return -1;
	}
	if (r < 0 && write && !c->initdb) {
		apk_err("%s: no database here (use --initdb to make one)", p);
		free(p);
		return -1;
	}
	free(p);
	if (b.len)
		parse_installed(c, (const char *)b.p, b.len);
	buf_free(&b);
	p = rootpath(c, "etc/apk/world");
	if (read_file(p, &b) == 0) {
		char *save = NULL;
		for (char *l = strtok_r((char *)b.p, " \t\n", &save); l;
		     l = strtok_r(NULL, " \t\n", &save)) {
			c->world = xrealloc(c->world, (c->nworld + 1) * sizeof *c->world);
			c->world[c->nworld++] = xstrdup(l);
		}
	}
	buf_free(&b);
	free(p);
	p = rootpath(c, "lib/apk/db/scripts.tar");
	read_file(p, &c->scripts_tar);
	free(p);
	p = rootpath(c, "etc/apk/arch");
	if (read_file(p, &b) == 0 && b.len) {
		free(c->arch);
		c->arch = xstrndup((const char *)b.p, strcspn((const char *)b.p, " \n"));
	}
	buf_free(&b);
	free(p);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int db_write(struct apk_ctx *c, struct pkg **inst, int n, char **world, int nworld,
	     struct buf *scripts_tar)
{
	struct buf o = {0};
	for (int i = 0; i < n; i++) {
		pkg_write_record(&o, inst[i], 1);
		buf_addstr(&o, "\n");
	}
	char *dir = rootpath(c, "lib/apk/db");
	mkdirs(dir, 0755);
	free(dir);
	char *p = rootpath(c, "lib/apk/db/installed");
	int r = write_file_atomic(p, o.p ? o.p : (unsigned char *)"", o.len, 0644);
	if (r < 0)
		apk_err("%s: %s", p, strerror(-r));
	free(p);
	buf_free(&o);
	if (r < 0)
		return -1;
	if (scripts_tar) {
		p = rootpath(c, "lib/apk/db/scripts.tar");
		r = write_file_atomic(p, scripts_tar->p, scripts_tar->len, 0644);
		if (r < 0)
			apk_err("%s: %s", p, strerror(-r));
		free(p);
		if (r < 0)
			return -1;
	}
	char **w = xmalloc((nworld ? nworld : 1) * sizeof *w);
	memcpy(w, world, nworld * sizeof *w);
	qsort(w, nworld, sizeof *w, cmp_str);
	for (int i = 0; i < nworld; i++)
		if (!i || strcmp(w[i], w[i - 1]))
			buf_printf(&o, "%s\n", w[i]);
	free(w);
	dir = rootpath(c, "etc/apk");
	mkdirs(dir, 0755);
	free(dir);
	p = rootpath(c, "etc/apk/world");
	r = write_file_atomic(p, o.p ? o.p : (unsigned char *)"", o.len, 0644);
	if (r < 0)
		apk_err("%s: %s", p, strerror(-r));
	free(p);
	buf_free(&o);
	return r < 0 ? -1 : 0;
}
