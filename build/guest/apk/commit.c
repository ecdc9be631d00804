/* The transaction: every package is fetched and verified first; then files are written
 * under temporary names, moved into place (keeping what they replace), the database is
 * written, and only then are replaced and removed files deleted. Any failure before the
 * database is written puts every file back as it was. */
#include "apk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { J_DIR, J_TEMP, J_PLACED };
struct jent {
	int kind;
	char *path;   /* absolute: the directory, the temp file, or the placed target */
	char *temp;   /* J_TEMP: its final target */
	char *backup; /* J_PLACED: where the replaced file was kept, or NULL */
};
struct journal {
	struct jent *e;
	int n;
};

static void jadd(struct journal *j, int kind, char *path, char *temp, char *backup)
{
	j->e = xrealloc(j->e, (j->n + 1) * sizeof *j->e);
	j->e[j->n++] = (struct jent){kind, path, temp, backup};
}

static void rollback(struct journal *j)
{
	for (int i = j->n - 1; i >= 0; i--) {
		struct jent *e = &j->e[i];
		switch (e->kind) {
		case J_TEMP:
			unlink(e->path);
			break;
		case J_PLACED:
			if (e->backup) {
				if (rename(e->backup, e->path) < 0)
					apk_err("rollback: cannot restore %s from %s: %s", e->path,
						e->backup, strerror(errno));
			} else {
				unlink(e->path);
			}
			break;
		case J_DIR:
			rmdir(e->path);
			break;
		}
	}
}

static void journal_free(struct journal *j)
{
	for (int i = 0; i < j->n; i++) {
		free(j->e[i].path);
		free(j->e[i].temp);
		free(j->e[i].backup);
	}
	free(j->e);
	j->e = NULL;
	j->n = 0;
}

static char *human_size(long long b)
{
	if (b >= 1024 * 1024)
		return xasprintf("%lld MiB", (b + 512 * 1024) / (1024 * 1024));
	if (b >= 1024)
		return xasprintf("%lld KiB", (b + 512) / 1024);
	return xasprintf("%lld B", b);
}

static struct repo *pkg_repo(struct apk_ctx *c, struct pkg *p)
{
	return p->repo >= 0 && p->repo < c->nrepos ? &c->repos[p->repo] : NULL;
}

static char *cache_dir(struct apk_ctx *c)
{
	if (c->no_cache)
		return NULL;
	char *p = rootpath(c, "etc/apk/cache");
	struct stat st;
	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
		return p;
	free(p);
	return NULL;
}

int pkg_fetch(struct apk_ctx *c, struct pkg *p, struct buf *raw, int to_cache)
{
	char *file = xasprintf("%s-%s.apk", p->name, p->version);
	char *cdir = cache_dir(c);
	char *cpath = cdir ? path_join(cdir, file) : NULL;
	int ret = -1;
	if (cpath && read_file(cpath, raw) == 0) {
		apk_dbg("using cached %s", cpath);
		ret = 0;
		goto out;
	}
	raw->len = 0;
	struct repo *r = pkg_repo(c, p);
	if (!r) {
		apk_err("%s: not in any repository", file);
		goto out;
	}
	if (c->no_network && !strncmp(r->url, "http://", 7)) {
		apk_err("%s: not in the cache and --no-network", file);
		goto out;
	}
	char *url = xasprintf("%s/%s/%s", r->url, c->arch, file);
	char err[512];
	apk_dbg("fetch %s", url);
	if (fetch_url(url, raw, file, err, sizeof err) < 0) {
		apk_err("%s", err);
		free(url);
		goto out;
	}
	free(url);
	ret = 0;
	if (cpath && (to_cache || cdir)) {
		int w = write_file_atomic(cpath, raw->p, raw->len, 0644);
		if (w < 0)
			apk_warn("%s: %s", cpath, strerror(-w));
	}
out:
	free(file);
	free(cdir);
	free(cpath);
	return ret;
}

/* Runs a package script through /bin/sh; returns its exit status. */
static int run_script(struct apk_ctx *c, const char *nv, const char *name, const struct buf *body,
		      const char *arg1, const char *arg2)
{
	char *dir = rootpath(c, "lib/apk/exec");
	mkdirs(dir, 0755);
	char *fname = xasprintf("%s.%s", nv, name);
	char *host = path_join(dir, fname);
	int r = write_file_atomic(host, body->p, body->len, 0755);
	if (r < 0) {
		apk_err("%s: %s", host, strerror(-r));
		free(dir), free(fname), free(host);
		return -1;
	}
	apk_msg("Executing %s", fname);
	/* In the guest root is "/". For another --root apk-tools chroots; we do too when we
	 * may and the root has a shell, else the script runs with the root as its working
	 * directory (native tests, a root being bootstrapped). */
	char *rootsh = rootpath(c, "bin/sh");
	int chrooted = strcmp(c->root, "/") && getuid() == 0 && access(rootsh, X_OK) == 0;
	free(rootsh);
	char *inroot = xasprintf("/lib/apk/exec/%s", fname);
	char *argv[] = {"/bin/sh", chrooted ? inroot : host, (char *)arg1, (char *)arg2, NULL};
	if (!arg1)
		argv[2] = NULL;
	int st = run_program(argv, chrooted ? "/" : c->root, chrooted ? c->root : NULL);
	unlink(host);
	free(dir), free(fname), free(host), free(inroot);
	return st;
}

struct extract {
	struct apk_ctx *c;
	struct journal *j;
	struct pkg *rec; /* gets the file list */
	const char *label;
	int failed;
};

static struct dir_rec *rec_dir(struct pkg *p, const char *name)
{
	for (int i = 0; i < p->ndirs; i++)
		if (!strcmp(p->dirs[i].name, name))
			return &p->dirs[i];
	p->dirs = xrealloc(p->dirs, (p->ndirs + 1) * sizeof *p->dirs);
	struct dir_rec *d = &p->dirs[p->ndirs++];
	memset(d, 0, sizeof *d);
	d->name = xstrdup(name);
	d->mode = 0755;
	return d;
}

/* Creates the parents of rel (journaling the ones made). */
static int make_parents(struct extract *x, const char *rel)
{
	char *s = xstrdup(rel);
	for (char *q = s; (q = strchr(q, '/')); q++) {
		*q = 0;
		char *abs = rootpath(x->c, s);
		if (mkdir(abs, 0755) == 0)
			jadd(x->j, J_DIR, abs, NULL, NULL);
		else if (errno != EEXIST) {
			apk_err("%s: mkdir %s: %s", x->label, abs, strerror(errno));
			free(abs);
			free(s);
			return -1;
		} else
			free(abs);
		*q = '/';
	}
	free(s);
	return 0;
}

static int extract_entry(struct tar_entry *e, void *ctx)
{
	struct extract *x = ctx;
	if (!*e->name || !strcmp(e->name, "."))
		return 0;
	if (make_parents(x, e->name) < 0)
		return x->failed = 1;
	char *abs = rootpath(x->c, e->name);
	char *slash = strrchr(e->name, '/');
	char *dname = slash ? xstrndup(e->name, slash - e->name) : xstrdup("");
	const char *base = slash ? slash + 1 : e->name;
	if (e->type == '5') {
		struct stat st;
		if (lstat(abs, &st) == 0 && !S_ISDIR(st.st_mode)) {
			apk_err("%s: %s exists and is not a directory", x->label, abs);
			x->failed = 1;
		} else if (mkdir(abs, e->mode ? e->mode : 0755) == 0) {
			jadd(x->j, J_DIR, abs, NULL, NULL);
			abs = NULL;
		} else if (errno != EEXIST) {
			apk_err("%s: mkdir %s: %s", x->label, abs, strerror(errno));
			x->failed = 1;
		}
		struct dir_rec *d = rec_dir(x->rec, e->name);
		d->mode = e->mode, d->uid = e->uid, d->gid = e->gid;
		d->have_acl = e->mode != 0755 || e->uid || e->gid;
		free(abs), free(dname);
		return x->failed;
	}
	char *tmp = xasprintf("%s.apk-new", abs);
	unlink(tmp);
	unsigned char h[20];
	int ok = 0;
	if (e->type == '0') {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			size_t off = 0;
			while (off < e->size) {
				ssize_t w = write(fd, e->data + off, e->size - off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					break;
				off += w;
			}
			ok = off == e->size && fchmod(fd, e->mode) == 0;
			if (close(fd) < 0)
				ok = 0;
		}
		sha1(e->data, e->size, h);
	} else if (e->type == '2') {
		ok = symlink(e->link, tmp) == 0;
		sha1(e->link, strlen(e->link), h);
	} else if (e->type == '1') {
		char *src = rootpath(x->c, e->link);
		char *srctmp = xasprintf("%s.apk-new", src);
		ok = link(srctmp, tmp) == 0 || link(src, tmp) == 0;
		free(src), free(srctmp);
		memset(h, 0, sizeof h);
	} else {
		apk_warn("%s: %s: unsupported tar entry type '%c' skipped", x->label, e->name,
			 e->type);
		free(tmp), free(abs), free(dname);
		return 0;
	}
	if (!ok) {
		apk_err("%s: writing %s: %s", x->label, tmp, strerror(errno));
		unlink(tmp);
		free(tmp), free(abs), free(dname);
		return x->failed = 1;
	}
	jadd(x->j, J_TEMP, tmp, abs, NULL);
	struct dir_rec *d = rec_dir(x->rec, dname);
	d->files = xrealloc(d->files, (d->nfiles + 1) * sizeof *d->files);
	struct file_rec *f = &d->files[d->nfiles++];
	memset(f, 0, sizeof *f);
	f->name = xstrdup(base);
	f->mode = e->type == '2' ? 0777 : e->mode;
	f->uid = e->uid;
	f->gid = e->gid;
	if (e->type != '1') {
		strcpy(f->csum, "Q1");
		b64(h, 20, f->csum + 2);
	}
	free(dname);
	return 0;
}

/* Moves every extracted temp file into place, keeping what it replaces. */
static int place_files(struct journal *j)
{
	int n = j->n;
	for (int i = 0; i < n; i++) {
		struct jent *e = &j->e[i];
		if (e->kind != J_TEMP)
			continue;
		const char *target = e->temp;
		struct stat st;
		char *backup = NULL;
		if (lstat(target, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				apk_err("%s: a directory is in the way of a file", target);
				return -1;
			}
			backup = xasprintf("%s.apk-old", target);
			if (rename(target, backup) < 0) {
				apk_err("%s: %s", target, strerror(errno));
				free(backup);
				return -1;
			}
		}
		if (rename(e->path, target) < 0) {
			apk_err("%s: %s", target, strerror(errno));
			if (backup)
				rename(backup, target);
			free(backup);
			return -1;
		}
		/* The temp is now the target: journal it as placed instead. */
		char *t = e->temp;
		free(e->path);
		e->path = t;
		e->temp = NULL;
		e->kind = J_PLACED;
		e->backup = backup;
	}
	return 0;
}

static int file_owned(struct pkg **pk, int n, const char *rel, const struct pkg *except)
{
	for (int i = 0; i < n; i++) {
		if (pk[i] == except || !pk[i])
			continue;
		for (int d = 0; d < pk[i]->ndirs; d++) {
			const struct dir_rec *dr = &pk[i]->dirs[d];
			size_t dl = strlen(dr->name);
			if (strncmp(rel, dr->name, dl) || (dl && rel[dl] != '/'))
				continue;
			const char *base = dl ? rel + dl + 1 : rel;
			for (int f = 0; f < dr->nfiles; f++)
				if (!strcmp(dr->files[f].name, base))
					return 1;
		}
	}
	return 0;
}

static int dir_owned(struct pkg **pk, int n, const char *rel)
{
	for (int i = 0; i < n; i++)
		for (int d = 0; pk[i] && d < pk[i]->ndirs; d++)
			if (!strcmp(pk[i]->dirs[d].name, rel))
				return 1;
	return 0;
}

/* Deletes old's files that no package of the new set owns. */
static void purge_files(struct apk_ctx *c, struct pkg *old, struct pkg **keep, int nkeep)
{
	for (int d = 0; d < old->ndirs; d++) {
		struct dir_rec *dr = &old->dirs[d];
		for (int f = 0; f < dr->nfiles; f++) {
			char *rel = dr->name[0] ? xasprintf("%s/%s", dr->name, dr->files[f].name)
						: xstrdup(dr->files[f].name);
			if (!file_owned(keep, nkeep, rel, NULL)) {
				char *abs = rootpath(c, rel);
				if (unlink(abs) < 0 && errno != ENOENT)
					apk_warn("%s: %s", abs, strerror(errno));
				free(abs);
			}
			free(rel);
		}
	}
	for (int d = old->ndirs - 1; d >= 0; d--) {
		if (!old->dirs[d].name[0] || dir_owned(keep, nkeep, old->dirs[d].name))
			continue;
		char *abs = rootpath(c, old->dirs[d].name);
		rmdir(abs); /* only when empty */
		free(abs);
	}
}

static void scripts_tar_rebuild(struct apk_ctx *c, struct pkg **sel, int nsel,
				struct apk_file *af, struct change *ch, int nch, struct buf *out);

struct script_find {
	const char *prefix, *suffix;
	struct buf *out;
	int found;
};

static int find_script(struct tar_entry *e, void *ctx)
{
	struct script_find *f = ctx;
	size_t pl = strlen(f->prefix), sl = strlen(f->suffix), nl = strlen(e->name);
	if (nl > pl + sl && !strncmp(e->name, f->prefix, pl) && e->name[pl] == '.' &&
	    !strcmp(e->name + nl - sl, f->suffix) && e->name[nl - sl - 1] == '.') {
		buf_add(f->out, e->data, e->size);
		f->found = 1;
		return 1;
	}
	return 0;
}

/* An installed package's script, from lib/apk/db/scripts.tar. */
static int stored_script(struct apk_ctx *c, struct pkg *p, const char *name, struct buf *out)
{
	char *nv = pkg_nv(p);
	struct script_find f = {nv, name, out, 0};
	const char *msg;
	if (c->scripts_tar.len)
		tar_walk(c->scripts_tar.p, c->scripts_tar.len, find_script, &f, &msg);
	free(nv);
	return f.found;
}

int commit_changes(struct apk_ctx *c, struct change *ch, int nch, char **world, int nworld,
		   struct pkg **sel, int nsel)
{
	long long total = 0;
	for (int i = 0; i < nsel; i++)
		total += sel[i]->isize;
	if (!nch) {
		char *hs = human_size(total);
		apk_msg("OK: %s in %d packages", hs, nsel);
		free(hs);
		if (!c->simulate)
			return db_write(c, sel, nsel, world, nworld, NULL);
		return 0;
	}
	struct apk_file *af = xmalloc(nch * sizeof *af);
	memset(af, 0, nch * sizeof *af);
	int ret = -1, errors = 0;
	struct journal j = {0};
	/* 1. Fetch and verify every package before touching the file system. */
	for (int i = 0; i < nch && !c->simulate; i++) {
		struct pkg *p = ch[i].new;
		if (!p || p->is_virtual)
			continue;
		struct buf raw = {0};
		char *file = xasprintf("%s-%s.apk", p->name, p->version);
		if (pkg_fetch(c, p, &raw, 0) < 0 ||
		    apk_file_load(c, file, &raw, p->csum, &af[i]) < 0) {
			buf_free(&raw);
			apk_err("%s: refused; nothing was installed", file);
			free(file);
			goto out;
		}
		if (strcmp(af[i].info->name, p->name) || strcmp(af[i].info->version, p->version)) {
			apk_err("%s: the package is %s-%s, not what the index says", file,
				af[i].info->name, af[i].info->version);
			free(file);
			goto out;
		}
		free(file);
	}
	/* 2. Write files under temporary names; pre scripts run before their package. */
	for (int i = 0; i < nch; i++) {
		struct pkg *p = ch[i].new, *o = ch[i].old;
		if (p && o && !strcmp(p->version, o->version))
			apk_msg("(%d/%d) Reinstalling %s (%s)", i + 1, nch, p->name, p->version);
		else if (p && o)
			apk_msg("(%d/%d) %s %s (%s -> %s)", i + 1, nch,
				apk_version_cmp(p->version, o->version) > 0 ? "Upgrading" : "Downgrading",
				p->name, o->version, p->version);
		else if (p)
			apk_msg("(%d/%d) Installing %s (%s)", i + 1, nch, p->name, p->version);
		else
			apk_msg("(%d/%d) Purging %s (%s)", i + 1, nch, o->name, o->version);
		if (c->simulate)
			continue;
		if (!p) {
			char *nv = pkg_nv(o);
			struct buf body = {0};
			int st = 0;
			if (stored_script(c, o, "pre-deinstall", &body))
				st = run_script(c, nv, "pre-deinstall", &body, o->version, NULL);
			buf_free(&body);
			if (st != 0) {
				apk_err("%s.pre-deinstall: script exited with error %d; nothing was "
					"changed", nv, st);
				free(nv);
				goto fail;
			}
			free(nv);
			continue;
		}
		if (p->is_virtual)
			continue;
		char *nv = pkg_nv(p);
		const struct buf *pre = apk_file_script(&af[i], o ? "pre-upgrade" : "pre-install");
		if (pre) {
			int st = run_script(c, nv, o ? "pre-upgrade" : "pre-install", pre, p->version,
					    o ? o->version : NULL);
			if (st != 0) {
				apk_err("%s.%s: script exited with error %d; nothing was changed", nv,
					o ? "pre-upgrade" : "pre-install", st);
				free(nv);
				goto fail;
			}
		}
		/* The record that goes to the database: the index's fields plus the files. */
		struct pkg *rec = af[i].info;
		rec->repo = p->repo;
		struct extract x = {c, &j, rec, nv, 0};
		const char *msg;
		int r = tar_walk(af[i].m[af[i].data].data.p, af[i].m[af[i].data].data.len,
				 extract_entry, &x, &msg);
		free(nv);
		if (r < 0 || x.failed) {
			if (r < 0)
				apk_err("%s-%s: %s", p->name, p->version, msg);
			goto fail;
		}
		/* Files another installed package owns are not taken over silently. */
		for (int d = 0; d < rec->ndirs; d++)
			for (int f = 0; f < rec->dirs[d].nfiles; f++) {
				char *rel = rec->dirs[d].name[0]
						? xasprintf("%s/%s", rec->dirs[d].name, rec->dirs[d].files[f].name)
						: xstrdup(rec->dirs[d].files[f].name);
				for (int k = 0; k < c->ninst; k++) {
					struct pkg *q = c->inst[k];
					int changing = 0;
					for (int m = 0; m < nch; m++)
						changing |= ch[m].old == q;
					if (changing || strcmp(q->name, p->name) == 0)
						continue;
					struct pkg *one[1] = {q};
					if (file_owned(one, 1, rel, NULL)) {
						apk_err("%s-%s: trying to overwrite %s owned by %s-%s", p->name,
							p->version, rel, q->name, q->version);
						errors++;
					}
				}
				free(rel);
			}
		if (errors)
			goto fail;
	}
	if (c->simulate) {
		char *hs = human_size(total);
		apk_msg("OK: %s in %d packages", hs, nsel);
		free(hs);
		ret = 0;
		goto out;
	}
	struct buf scripts = {0};
	/* 3. Move the files into place. */
	if (place_files(&j) < 0)
		goto fail;
	/* 4. The database: the new set with the new packages' records. */
	struct pkg **newinst = xmalloc((nsel ? nsel : 1) * sizeof *newinst);
	for (int i = 0; i < nsel; i++) {
		newinst[i] = sel[i];
		for (int k = 0; k < nch; k++)
			if (ch[k].new == sel[i] && af[k].info)
				newinst[i] = af[k].info;
	}
	scripts_tar_rebuild(c, newinst, nsel, af, ch, nch, &scripts);
	if (db_write(c, newinst, nsel, world, nworld, &scripts) < 0) {
		buf_free(&scripts);
		free(newinst);
		goto fail;
	}
	buf_free(&scripts);
	/* 5. Committed: drop what was replaced and what is no longer owned. */
	for (int i = 0; i < j.n; i++)
		if (j.e[i].kind == J_PLACED && j.e[i].backup)
			unlink(j.e[i].backup);
	for (int i = 0; i < nch; i++)
		if (ch[i].old)
			purge_files(c, ch[i].old, newinst, nsel);
	/* 6. Post scripts. */
	for (int i = 0; i < nch; i++) {
		struct pkg *p = ch[i].new, *o = ch[i].old;
		if (!p) {
			struct buf body = {0};
			char *nv = pkg_nv(o);
			if (stored_script(c, o, "post-deinstall", &body) &&
			    run_script(c, nv, "post-deinstall", &body, o->version, NULL) != 0) {
				apk_err("%s.post-deinstall: script exited with an error", nv);
				errors++;
			}
			buf_free(&body);
			free(nv);
			continue;
		}
		if (p->is_virtual)
			continue;
		const char *name = o ? "post-upgrade" : "post-install";
		const struct buf *post = apk_file_script(&af[i], name);
		if (!post)
			continue;
		char *nv = pkg_nv(p);
		int st = run_script(c, nv, name, post, p->version, o ? o->version : NULL);
		if (st != 0) {
			apk_err("%s.%s: script exited with error %d", nv, name, st);
			errors++;
		}
		free(nv);
	}
	free(newinst);
	long long t2 = 0;
	for (int i = 0; i < nsel; i++)
		t2 += sel[i]->isize;
	char *hs = human_size(t2);
	if (errors)
		apk_msg("%d error%s; %s in %d packages", errors, errors > 1 ? "s" : "", hs, nsel);
	else
		apk_msg("OK: %s in %d packages", hs, nsel);
	free(hs);
	ret = errors ? -1 : 0;
	goto out;
fail:
	rollback(&j);
	apk_err("the transaction failed; the files and the database are as they were");
out:
	journal_free(&j);
	for (int i = 0; i < nch; i++)
		if (af[i].nm || af[i].info)
			apk_file_free(&af[i]);
	free(af);
	return ret;
}

struct script_keep {
	struct buf *out;
	char **keep; /* name-version prefixes whose scripts stay */
	int nkeep;
};

static int keep_script(struct tar_entry *e, void *ctx)
{
	struct script_keep *k = ctx;
	for (int i = 0; i < k->nkeep; i++) {
		size_t l = strlen(k->keep[i]);
		if (!strncmp(e->name, k->keep[i], l) && e->name[l] == '.') {
			tar_write_file(k->out, e->name, e->mode, e->data, e->size, e->mtime);
			break;
		}
	}
	return 0;
}

static void scripts_tar_rebuild(struct apk_ctx *c, struct pkg **sel, int nsel,
				struct apk_file *af, struct change *ch, int nch, struct buf *out)
{
	struct script_keep k = {out, NULL, 0};
	for (int i = 0; i < nsel; i++) {
		int changed = 0;
		for (int j = 0; j < nch; j++)
			changed |= af[j].info == sel[i];
		if (changed)
			continue;
		k.keep = xrealloc(k.keep, (k.nkeep + 1) * sizeof *k.keep);
		k.keep[k.nkeep++] = pkg_nv(sel[i]);
	}
	const char *msg;
	if (c->scripts_tar.len)
		tar_walk(c->scripts_tar.p, c->scripts_tar.len, keep_script, &k, &msg);
	for (int j = 0; j < nch; j++) {
		if (!af[j].info)
			continue;
		char *nv = pkg_nv(af[j].info);
		for (int s = 0; s < af[j].nscripts; s++) {
			char *n = xasprintf("%s.%s.%s", nv, af[j].info->csum, af[j].scripts[s].name);
			tar_write_file(out, n, 0755, af[j].scripts[s].body.p, af[j].scripts[s].body.len,
				       af[j].info->buildtime);
			free(n);
		}
		free(nv);
	}
	tar_write_end(out);
	for (int i = 0; i < k.nkeep; i++)
		free(k.keep[i]);
	free(k.keep);
}
