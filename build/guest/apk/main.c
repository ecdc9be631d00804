/* apk: command line, options and the commands. */
#include "apk.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef APK_VERSION
#define APK_VERSION "0.1"
#endif
#ifndef APK_DEFAULT_ARCH
#define APK_DEFAULT_ARCH "wasm32"
#endif

static void usage(FILE *f)
{
	fputs("apk-alpenglow " APK_VERSION ", Alpine's package manager for Alpenglow\n"
	      "usage: apk [options] COMMAND [args]\n\n"
	      "commands:\n"
	      "  update              fetch the repositories' indexes\n"
	      "  add [-t NAME] PKG…  install packages (name, name>=ver, !name)\n"
	      "  del PKG…            remove packages and what only they needed\n"
	      "  upgrade             install the newest versions\n"
	      "  info [-L|-R|-w|-a|-d|-s|-e] [PKG…]\n"
	      "  search PATTERN…     list available packages\n"
	      "  list [-I|-a|-u]     list installed, available or upgradable packages\n"
	      "  fix [PKG…]          reinstall packages (all with damaged files when none named)\n"
	      "  cache clean|download|sync\n"
	      "  stats               database statistics\n"
	      "  version -t V1 V2    compare two versions (prints <, = or >)\n\n"
	      "options: -p/--root DIR, --initdb, -X/--repository URL, --allow-untrusted,\n"
	      "  --no-network, -s/--simulate, -q, -v, --no-cache, -U/--update-cache, --arch ARCH\n",
	      f);
}

static struct apk_ctx C = {.root = "/", .lockfd = -1};

static int load_repos(struct apk_ctx *c, int force)
{
	repos_load(c);
	int errors = 0;
	for (int i = 0; i < c->nrepos; i++)
		if (repo_update(c, i, force) < 0)
			errors++;
	return errors;
}

static int world_has_name(char **w, int n, const char *name)
{
	for (int i = 0; i < n; i++) {
		struct dep d;
		if (dep_parse(w[i], &d) < 0)
			continue;
		int m = !strcmp(d.name, name);
		dep_free(&d);
		if (m)
			return i;
	}
	return -1;
}

static int run_solution(struct apk_ctx *c, char **world, int nworld, int upgrade)
{
	struct pkg **sel;
	int nsel;
	if (solve(c, world, nworld, upgrade, &sel, &nsel) < 0)
		return 1;
	struct change *ch;
	int nch;
	changes_compute(c, sel, nsel, &ch, &nch);
	int r = commit_changes(c, ch, nch, world, nworld, sel, nsel);
	free(ch);
	free(sel);
	return r < 0 ? 1 : 0;
}

static int cmd_update(struct apk_ctx *c)
{
	repos_load(c);
	int errors = 0, total = 0;
	for (int i = 0; i < c->nrepos; i++) {
		if (repo_update(c, i, !c->no_network) < 0) {
			errors++;
			continue;
		}
		apk_msg("%s [%s]", c->repos[i].description ? c->repos[i].description : "",
			c->repos[i].url);
	}
	/* Distinct packages: the same package in two repositories counts once. */
	for (int i = 0; i < c->navail; i++) {
		int dup = 0;
		for (int j = 0; j < i && !dup; j++)
			dup = !strcmp(c->avail[i]->name, c->avail[j]->name) &&
			      !strcmp(c->avail[i]->version, c->avail[j]->version);
		total += !dup;
	}
	if (errors)
		apk_msg("%d unavailable, 0 stale; %d distinct packages available", errors, total);
	else
		apk_msg("OK: %d distinct packages available", total);
	return errors ? 1 : 0;
}

static int cmd_add(struct apk_ctx *c, char **args, int n, const char *virtual_name)
{
	char **world = xmalloc((c->nworld + n + 1) * sizeof *world);
	int nworld = c->nworld;
	memcpy(world, c->world, c->nworld * sizeof *world);
	for (int i = 0; i < n; i++) {
		struct dep d;
		if (dep_parse(args[i], &d) < 0) {
			apk_err("'%s' is not a valid package name or constraint", args[i]);
			return 1;
		}
		dep_free(&d);
	}
	if (virtual_name) {
		struct pkg *v = pkg_new();
		v->name = xstrdup(virtual_name);
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		char ver[32];
		strftime(ver, sizeof ver, "%Y%m%d.%H%M%S", &tm);
		v->version = xstrdup(ver);
		v->arch = xstrdup("noarch");
		v->desc = xstrdup("virtual meta package");
		v->is_virtual = 1;
		for (int i = 0; i < n; i++)
			pkg_set_field(v, 'D', args[i]);
		/* An existing virtual package of this name is replaced: it has no files, so
		 * dropping its record is all there is to remove. */
		for (int i = 0; i < c->ninst; i++)
			if (!strcmp(c->inst[i]->name, virtual_name)) {
				memmove(&c->inst[i], &c->inst[i + 1],
					(c->ninst - i - 1) * sizeof *c->inst);
				c->ninst--;
				break;
			}
		c->avail = xrealloc(c->avail, (c->navail + 1) * sizeof *c->avail);
		c->avail[c->navail++] = v;
		int k = world_has_name(world, nworld, virtual_name);
		if (k >= 0)
			world[k] = xstrdup(virtual_name);
		else
			world[nworld++] = xstrdup(virtual_name);
	} else {
		for (int i = 0; i < n; i++) {
			struct dep d;
			dep_parse(args[i], &d);
			int k = world_has_name(world, nworld, d.name);
			dep_free(&d);
			if (k >= 0)
				world[k] = args[i];
			else
				world[nworld++] = args[i];
		}
	}
	int r = run_solution(c, world, nworld, 0);
	free(world);
	return r;
}

static int cmd_del(struct apk_ctx *c, char **args, int n)
{
	char **world = xmalloc((c->nworld + 1) * sizeof *world);
	int nworld = 0;
	for (int i = 0; i < n; i++)
		if (world_has_name(c->world, c->nworld, args[i]) < 0)
			apk_warn("%s is not in world", args[i]);
	for (int i = 0; i < c->nworld; i++) {
		struct dep d;
		int drop = 0;
		if (dep_parse(c->world[i], &d) == 0) {
			for (int k = 0; k < n; k++)
				drop |= !strcmp(d.name, args[k]);
			dep_free(&d);
		}
		if (!drop)
			world[nworld++] = c->world[i];
	}
	int r = run_solution(c, world, nworld, 0);
	for (int k = 0; k < n && !r; k++)
		for (int i = 0; i < c->ninst; i++)
			if (!strcmp(c->inst[i]->name, args[k])) {
				/* Still installed: something else in world needs it. */
				int gone = 1;
				struct pkg **sel;
				int nsel;
				if (solve(c, world, nworld, 0, &sel, &nsel) == 0) {
					for (int j = 0; j < nsel; j++)
						gone &= strcmp(sel[j]->name, args[k]) != 0;
					free(sel);
				}
				if (!gone)
					apk_warn("%s is still needed by other packages; it stays installed",
						 args[k]);
			}
	free(world);
	return r;
}

static struct pkg *find_pkg(struct apk_ctx *c, const char *name, int installed_only)
{
	for (int i = 0; i < c->ninst; i++)
		if (!strcmp(c->inst[i]->name, name))
			return c->inst[i];
	if (installed_only)
		return NULL;
	struct pkg *best = NULL;
	for (int i = 0; i < c->navail; i++)
		if (!strcmp(c->avail[i]->name, name) &&
		    (!best || apk_version_cmp(c->avail[i]->version, best->version) > 0))
			best = c->avail[i];
	return best;
}

static int cmp_pkg_name(const void *a, const void *b)
{
	const struct pkg *x = *(struct pkg *const *)a, *y = *(struct pkg *const *)b;
	int r = strcmp(x->name, y->name);
	return r ? r : apk_version_cmp(x->version, y->version);
}

static int cmd_info(struct apk_ctx *c, char **args, int n, const char *flags)
{
	if (!n) {
		struct pkg **v = xmalloc((c->ninst + 1) * sizeof *v);
		memcpy(v, c->inst, c->ninst * sizeof *v);
		qsort(v, c->ninst, sizeof *v, cmp_pkg_name);
		for (int i = 0; i < c->ninst; i++)
			printf(apk_verbosity > 1 ? "%s-%s\n" : "%s\n", v[i]->name, v[i]->version);
		free(v);
		return 0;
	}
	int all = strchr(flags, 'a') != NULL;
	int want_d = all || strchr(flags, 'd') || !flags[0];
	int want_w = all || strchr(flags, 'w') || !flags[0];
	int want_s = all || strchr(flags, 's') || !flags[0];
	int want_R = all || strchr(flags, 'R');
	int want_L = all || strchr(flags, 'L');
	int errors = 0;
	for (int k = 0; k < n; k++) {
		struct pkg *p = find_pkg(c, args[k], strchr(flags, 'e') || want_L);
		if (strchr(flags, 'e')) {
			if (p)
				printf("%s\n", args[k]);
			else
				errors++;
			continue;
		}
		if (!p) {
			if (want_L && !all && find_pkg(c, args[k], 0))
				apk_err("%s: not installed", args[k]);
			else
				apk_err("%s: no such package", args[k]);
			errors++;
			continue;
		}
		char *nv = pkg_nv(p);
		if (want_d)
			printf("%s description:\n%s\n\n", nv, p->desc ? p->desc : "");
		if (want_w)
			printf("%s webpage:\n%s\n\n", nv, p->url ? p->url : "");
		if (want_s) {
			long long s = p->isize;
			if (s >= 1024 * 1024)
				printf("%s installed size:\n%lld MiB\n\n", nv, (s + 512 * 1024) / 1048576);
			else if (s >= 1024)
				printf("%s installed size:\n%lld KiB\n\n", nv, (s + 512) / 1024);
			else
				printf("%s installed size:\n%lld B\n\n", nv, s);
		}
		if (want_R) {
			printf("%s depends on:\n", nv);
			for (int i = 0; i < p->ndeps; i++) {
				char *d = dep_format(&p->deps[i]);
				printf("%s\n", d);
				free(d);
			}
			printf("\n");
		}
		if (want_L && p->installed) {
			printf("%s contains:\n", nv);
			for (int d = 0; d < p->ndirs; d++)
				for (int f = 0; f < p->dirs[d].nfiles; f++)
					printf("%s%s%s\n", p->dirs[d].name, p->dirs[d].name[0] ? "/" : "",
					       p->dirs[d].files[f].name);
			printf("\n");
		}
		free(nv);
	}
	return errors ? 1 : 0;
}

static int latest_of_name(struct apk_ctx *c, int i)
{
	for (int j = 0; j < c->navail; j++)
		if (j != i && !strcmp(c->avail[j]->name, c->avail[i]->name)) {
			int vc = apk_version_cmp(c->avail[j]->version, c->avail[i]->version);
			if (vc > 0 || (vc == 0 && j < i))
				return 0;
		}
	return 1;
}

static int cmd_search(struct apk_ctx *c, char **args, int n, int all)
{
	struct pkg **v = xmalloc((c->navail + 1) * sizeof *v);
	int nv = 0;
	for (int i = 0; i < c->navail; i++) {
		if (!all && !latest_of_name(c, i))
			continue;
		int match = !n;
		for (int k = 0; k < n && !match; k++) {
			char *pat = strpbrk(args[k], "*?[") ? xstrdup(args[k])
							   : xasprintf("*%s*", args[k]);
			match = fnmatch(pat, c->avail[i]->name, 0) == 0;
			free(pat);
		}
		if (match)
			v[nv++] = c->avail[i];
	}
	qsort(v, nv, sizeof *v, cmp_pkg_name);
	for (int i = 0; i < nv; i++) {
		if (apk_verbosity > 1)
			printf("%s-%s - %s\n", v[i]->name, v[i]->version, v[i]->desc ? v[i]->desc : "");
		else if (apk_verbosity < 1)
			printf("%s\n", v[i]->name);
		else
			printf("%s-%s\n", v[i]->name, v[i]->version);
	}
	free(v);
	return 0;
}

static void list_line(struct pkg *p, const char *tag)
{
	printf("%s-%s %s {%s} (%s)%s\n", p->name, p->version, p->arch ? p->arch : "",
	       p->origin ? p->origin : p->name, p->license ? p->license : "", tag);
}

static int cmd_list(struct apk_ctx *c, const char *mode)
{
	struct pkg **v = xmalloc((c->ninst + c->navail + 1) * sizeof *v);
	int nv = 0;
	if (!strcmp(mode, "installed")) {
		for (int i = 0; i < c->ninst; i++)
			v[nv++] = c->inst[i];
		qsort(v, nv, sizeof *v, cmp_pkg_name);
		for (int i = 0; i < nv; i++)
			list_line(v[i], " [installed]");
	} else {
		for (int i = 0; i < c->navail; i++)
			if (latest_of_name(c, i))
				v[nv++] = c->avail[i];
		qsort(v, nv, sizeof *v, cmp_pkg_name);
		for (int i = 0; i < nv; i++) {
			struct pkg *in = find_pkg(c, v[i]->name, 1);
			int newer = in && apk_version_cmp(v[i]->version, in->version) > 0;
			if (!strcmp(mode, "upgradable")) {
				if (newer) {
					char *t = xasprintf(" [upgradable from: %s-%s]", in->name, in->version);
					list_line(v[i], t);
					free(t);
				}
			} else {
				list_line(v[i], in && !newer ? " [installed]" : "");
			}
		}
	}
	free(v);
	return 0;
}

/* Does every file of p exist with the checksum the database records? */
static int pkg_intact(struct apk_ctx *c, struct pkg *p)
{
	for (int d = 0; d < p->ndirs; d++)
		for (int f = 0; f < p->dirs[d].nfiles; f++) {
			struct file_rec *fr = &p->dirs[d].files[f];
			char *rel = p->dirs[d].name[0] ? xasprintf("%s/%s", p->dirs[d].name, fr->name)
						       : xstrdup(fr->name);
			char *abs = rootpath(c, rel);
			struct stat st;
			int ok = lstat(abs, &st) == 0;
			if (ok && fr->csum[0]) {
				struct buf b = {0};
				unsigned char h[20];
				char q[40] = "Q1";
				if (S_ISLNK(st.st_mode)) {
					char t[4096];
					ssize_t l = readlink(abs, t, sizeof t);
					sha1(t, l > 0 ? l : 0, h);
				} else {
					read_file(abs, &b);
					sha1(b.p, b.len, h);
				}
				b64(h, 20, q + 2);
				ok = !strcmp(q, fr->csum);
				buf_free(&b);
			}
			if (!ok)
				apk_msg("%s-%s: %s is %s", p->name, p->version, rel,
					lstat(abs, &st) == 0 ? "modified" : "missing");
			free(rel);
			free(abs);
			if (!ok)
				return 0;
		}
	return 1;
}

static int cmd_fix(struct apk_ctx *c, char **args, int n)
{
	struct change *ch = xmalloc((c->ninst + 1) * sizeof *ch);
	int nch = 0, errors = 0;
	struct pkg **sel = xmalloc((c->ninst + 1) * sizeof *sel);
	for (int i = 0; i < c->ninst; i++) {
		struct pkg *p = c->inst[i];
		sel[i] = p;
		int want = 0;
		for (int k = 0; k < n; k++)
			want |= !strcmp(args[k], p->name);
		if (!n && !p->ndirs)
			continue;
		if (!n)
			want = !pkg_intact(c, p);
		if (!want)
			continue;
		struct pkg *src = NULL;
		for (int j = 0; j < c->navail && !src; j++)
			if (!strcmp(c->avail[j]->name, p->name) &&
			    !strcmp(c->avail[j]->version, p->version))
				src = c->avail[j];
		if (!src) {
			apk_err("%s-%s: not in any repository; cannot reinstall it", p->name,
				p->version);
			errors++;
			continue;
		}
		sel[i] = src;
		ch[nch].old = p;
		ch[nch++].new = src;
	}
	for (int k = 0; k < n; k++)
		if (!find_pkg(c, args[k], 1)) {
			apk_err("%s: not installed", args[k]);
			errors++;
		}
	int r = errors ? -1 : commit_changes(c, ch, nch, c->world, c->nworld, sel, c->ninst);
	free(ch);
	free(sel);
	return r < 0 ? 1 : 0;
}

static int cmd_cache(struct apk_ctx *c, const char *what)
{
	char *cdir = rootpath(c, "etc/apk/cache");
	struct stat st;
	if (stat(cdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		apk_err("Package cache is not enabled (%s is not a directory).", cdir);
		free(cdir);
		return 1;
	}
	int errors = 0;
	struct pkg **sel = NULL;
	int nsel = 0;
	if (solve(c, c->world, c->nworld, 0, &sel, &nsel) < 0) {
		free(cdir);
		return 1;
	}
	if (!strcmp(what, "clean") || !strcmp(what, "sync")) {
		DIR *d = opendir(cdir);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l < 5 || strcmp(e->d_name + l - 4, ".apk"))
				continue;
			int keep = 0;
			for (int i = 0; i < nsel && !keep; i++) {
				char *f = xasprintf("%s-%s.apk", sel[i]->name, sel[i]->version);
				keep = !strcmp(f, e->d_name);
				free(f);
			}
			if (keep)
				continue;
			char *p = path_join(cdir, e->d_name);
			apk_dbg("deleting %s", e->d_name);
			if (!c->simulate && unlink(p) < 0) {
				apk_err("%s: %s", p, strerror(errno));
				errors++;
			}
			free(p);
		}
		if (d)
			closedir(d);
	}
	if (!strcmp(what, "download") || !strcmp(what, "sync")) {
		for (int i = 0; i < nsel; i++) {
			/* An installed package is fetched from the repository that offers it. */
			for (int j = 0; j < c->navail && sel[i]->repo < 0; j++)
				if (!strcmp(c->avail[j]->name, sel[i]->name) &&
				    !strcmp(c->avail[j]->version, sel[i]->version))
					sel[i] = c->avail[j];
			if (sel[i]->is_virtual || sel[i]->repo < 0)
				continue;
			char *f = xasprintf("%s-%s.apk", sel[i]->name, sel[i]->version);
			char *p = path_join(cdir, f);
			if (access(p, F_OK) < 0 && !c->simulate) {
				struct buf raw = {0};
				struct apk_file af;
				if (pkg_fetch(c, sel[i], &raw, 1) < 0 ||
				    apk_file_load(c, f, &raw, sel[i]->csum, &af) < 0) {
					unlink(p);
					errors++;
				} else {
					apk_msg("Downloaded %s", f);
				}
				if (af.nm || af.info)
					apk_file_free(&af);
				buf_free(&raw);
			}
			free(f);
			free(p);
		}
	} else if (strcmp(what, "clean")) {
		apk_err("cache: unknown action '%s' (clean, download or sync)", what);
		errors++;
	}
	free(sel);
	free(cdir);
	return errors ? 1 : 0;
}

static int cmd_stats(struct apk_ctx *c)
{
	long long dirs = 0, files = 0, bytes = 0;
	for (int i = 0; i < c->ninst; i++) {
		dirs += c->inst[i]->ndirs;
		bytes += c->inst[i]->isize;
		for (int d = 0; d < c->inst[i]->ndirs; d++)
			files += c->inst[i]->dirs[d].nfiles;
	}
	int names = 0;
	for (int i = 0; i < c->navail; i++)
		names += latest_of_name(c, i);
	printf("installed:\n  packages: %d\n  dirs: %lld\n  files: %lld\n  bytes: %lld\n"
	       "  triggers: 0\navailable:\n  names: %d\n  packages: %d\n",
	       c->ninst, dirs, files, bytes, names, c->navail);
	return 0;
}

int main(int argc, char **argv)
{
	struct apk_ctx *c = &C;
	const char *cmd = NULL, *virtual_name = NULL;
	char **args = xmalloc((argc + 1) * sizeof *args);
	int nargs = 0, update_cache = 0, search_all = 0;
	char flags[16] = "";
	const char *list_mode = "installed";
	c->arch = xstrdup(APK_DEFAULT_ARCH);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
#define OPTARG(name)                                                              \
	(!strcmp(a, name) ? (i + 1 < argc ? (val = argv[++i]) : NULL)             \
			  : (!strncmp(a, name "=", strlen(name) + 1) ? (val = a + strlen(name) + 1) : NULL))
		if (!strcmp(a, "--")) {
			while (++i < argc)
				args[nargs++] = argv[i];
		} else if (OPTARG("--root") || OPTARG("-p")) {
			c->root = val;
		} else if (OPTARG("--repository") || OPTARG("-X")) {
			c->extra_repos = xrealloc(c->extra_repos, (c->nextra + 1) * sizeof(char *));
			c->extra_repos[c->nextra++] = (char *)val;
		} else if (OPTARG("--arch")) {
			free(c->arch);
			c->arch = xstrdup(val);
		} else if (OPTARG("--virtual") || OPTARG("-t")) {
			virtual_name = val;
		} else if (!strcmp(a, "--initdb")) {
			c->initdb = 1;
		} else if (!strcmp(a, "--allow-untrusted")) {
			c->allow_untrusted = 1;
		} else if (!strcmp(a, "--no-network")) {
			c->no_network = 1;
		} else if (!strcmp(a, "--simulate") || !strcmp(a, "-s")) {
			c->simulate = 1;
		} else if (!strcmp(a, "--no-cache")) {
			c->no_cache = 1;
		} else if (!strcmp(a, "--update-cache") || !strcmp(a, "-U")) {
			update_cache = 1;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			apk_verbosity--;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			apk_verbosity++;
		} else if (!strcmp(a, "--installed") || !strcmp(a, "-I")) {
			list_mode = "installed";
		} else if (!strcmp(a, "--available")) {
			list_mode = "available";
		} else if (!strcmp(a, "--upgradable") || !strcmp(a, "-u")) {
			list_mode = "upgradable";
		} else if (!strcmp(a, "--all")) {
			search_all = 1;
			strcat(flags, "a");
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
			printf("apk-alpenglow %s\n", APK_VERSION);
			return 0;
		} else if (a[0] == '-' && a[1] && a[1] != '-' && cmd &&
			   (!strcmp(cmd, "info") || !strcmp(cmd, "list") || !strcmp(cmd, "search") ||
			    !strcmp(cmd, "version"))) {
			/* Command flags: info -L -R -w -a -d -s -e, list -a, search -a, version -t. */
			for (const char *f = a + 1; *f; f++) {
				if (!strchr("LRwadset", *f)) {
					apk_err("%s: unknown option -%c", cmd, *f);
					return 1;
				}
				if (strlen(flags) < sizeof flags - 1)
					strncat(flags, f, 1);
			}
			if (strchr(a, 'a')) {
				search_all = 1;
				list_mode = "available";
			}
		} else if (a[0] == '-' && a[1]) {
			apk_err("unknown option %s (see apk --help)", a);
			return 1;
		} else if (!cmd) {
			cmd = a;
		} else {
			args[nargs++] = (char *)a;
		}
	}
	if (!cmd) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(cmd, "version")) {
		/* `apk version -t A B`: how two versions compare, by Alpine's rules. (-t is
		 * also add's --virtual, which took A as its value.) */
		if (virtual_name) {
			memmove(args + 1, args, nargs * sizeof *args);
			args[0] = (char *)virtual_name;
			nargs++;
			strcat(flags, "t");
		}
		if (!strchr(flags, 't') || nargs != 2) {
			apk_err("version: only -t VERSION1 VERSION2 is supported");
			return 1;
		}
		for (int i = 0; i < 2; i++)
			if (!apk_version_valid(args[i])) {
				apk_err("version: '%s' is not a valid version", args[i]);
				return 1;
			}
		int r = apk_version_cmp(args[0], args[1]);
		printf("%s\n", r < 0 ? "<" : r > 0 ? ">" : "=");
		return 0;
	}
	c->interactive_progress = isatty(2);
	if (strcmp(c->root, "/")) {
		/* Scripts run with the root as working directory: it must be absolute. */
		if (c->initdb)
			mkdirs(c->root, 0755);
		char *abs = realpath(c->root, NULL);
		if (!abs) {
			apk_err("--root %s: %s", c->root, strerror(errno));
			return 1;
		}
		c->root = abs;
	}
	static const char *const writers[] = {"add", "del", "upgrade", "fix"};
	static const char *const known[] = {"update", "add",  "del",   "upgrade", "info",
					    "search", "list", "fix",   "cache",   "stats"};
	int write = 0, ok = 0;
	for (size_t i = 0; i < sizeof writers / sizeof *writers; i++)
		write |= !strcmp(cmd, writers[i]);
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		ok |= !strcmp(cmd, known[i]);
	if (!ok) {
		apk_err("unknown command '%s' (see apk --help)", cmd);
		return 1;
	}
	if (db_open(c, write || !strcmp(cmd, "update") || !strcmp(cmd, "cache")) < 0)
		return 1;
	if (!strcmp(cmd, "update"))
		return cmd_update(c);
	int repo_errors = load_repos(c, update_cache);
	(void)repo_errors; /* a missing repository is a warning, as in apk-tools */
	if (!strcmp(cmd, "add")) {
		if (!nargs && !virtual_name) {
			apk_err("add: name at least one package");
			return 1;
		}
		return cmd_add(c, args, nargs, virtual_name);
	}
	if (!strcmp(cmd, "del")) {
		if (!nargs) {
			apk_err("del: name at least one package");
			return 1;
		}
		return cmd_del(c, args, nargs);
	}
	if (!strcmp(cmd, "upgrade"))
		return run_solution(c, c->world, c->nworld, 1);
	if (!strcmp(cmd, "info"))
		return cmd_info(c, args, nargs, flags);
	if (!strcmp(cmd, "search"))
		return cmd_search(c, args, nargs, search_all);
	if (!strcmp(cmd, "list"))
		return cmd_list(c, list_mode);
	if (!strcmp(cmd, "fix"))
		return cmd_fix(c, args, nargs);
	if (!strcmp(cmd, "cache"))
		return cmd_cache(c, nargs ? args[0] : "");
	return cmd_stats(c);
}
