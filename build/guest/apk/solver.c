/* Dependency resolution: from the world constraints to the set of packages to have,
 * in dependency order. Greedy and deterministic: for each constraint the best candidate
 * is the one that already satisfies it, else the real package over a provider, the
 * installed version unless upgrading, then the highest version, then repository order. */
#include "apk.h"

#include <stdlib.h>
#include <string.h>

struct solver {
	struct apk_ctx *c;
	struct pkg **cands;
	int ncands;
	struct pkg **sel; /* in dependency order */
	int nsel;
	int upgrade;
	struct buf errors;
	int nerrors;
};

/* Does p satisfy dependency d (by name or by what it provides)? */
static int pkg_satisfies(const struct pkg *p, const struct dep *d, int *real)
{
	if (!strcmp(p->name, d->name) && dep_match_version(d, p->version)) {
		if (real)
			*real = 1;
		return 1;
	}
	for (int i = 0; i < p->nprovides; i++) {
		const struct dep *pr = &p->provides[i];
		if (strcmp(pr->name, d->name))
			continue;
		if (d->op == OP_ANY || (pr->ver && dep_match_version(d, pr->ver))) {
			if (real)
				*real = 0;
			return 1;
		}
	}
	return 0;
}

static struct pkg *selected_named(struct solver *s, const char *name)
{
	for (int i = 0; i < s->nsel; i++)
		if (!strcmp(s->sel[i]->name, name))
			return s->sel[i];
	return NULL;
}

static int better(struct solver *s, struct pkg *a, int areal, struct pkg *b, int breal)
{
	if (areal != breal)
		return areal > breal;
	if (!s->upgrade && a->installed != b->installed)
		return a->installed > b->installed;
	int vc = apk_version_cmp(a->version, b->version);
	if (vc)
		return vc > 0;
	if (a->installed != b->installed)
		return a->installed > b->installed;
	return a->repo >= 0 && (b->repo < 0 || a->repo < b->repo);
}

static void add_error(struct solver *s, const char *what, const char *reason,
		      const char *by, const struct dep *d)
{
	char *ds = dep_format(d);
	buf_printf(&s->errors, "  %s (%s):\n    required by: %s[%s]\n", what, reason, by, ds);
	free(ds);
	s->nerrors++;
}

static void select_dep(struct solver *s, const struct dep *d, const char *by, int depth);

static void select_pkg(struct solver *s, struct pkg *p, int depth)
{
	if (p->mark)
		return;
	p->mark = 1; /* in progress: breaks dependency cycles */
	char *nv = pkg_nv(p);
	for (int i = 0; i < p->ndeps; i++)
		if (!p->deps[i].conflict)
			select_dep(s, &p->deps[i], nv, depth + 1);
	free(nv);
	s->sel = xrealloc(s->sel, (s->nsel + 1) * sizeof *s->sel);
	s->sel[s->nsel++] = p;
}

static void select_dep(struct solver *s, const struct dep *d, const char *by, int depth)
{
	if (depth > 200)
		return;
	/* Already chosen (or being chosen) packages win. */
	for (int i = 0; i < s->ncands; i++)
		if (s->cands[i]->mark && pkg_satisfies(s->cands[i], d, NULL))
			return;
	struct pkg *best = NULL;
	int bestreal = 0, any_name = 0;
	for (int i = 0; i < s->ncands; i++) {
		struct pkg *p = s->cands[i];
		if (!strcmp(p->name, d->name))
			any_name = 1;
		int real;
		if (!pkg_satisfies(p, d, &real))
			continue;
		/* Another version of the same package is already chosen. */
		struct pkg *same = selected_named(s, p->name);
		if (same && same != p)
			continue;
		int marked_same = 0;
		for (int j = 0; j < s->ncands; j++)
			if (s->cands[j]->mark && s->cands[j] != p && !strcmp(s->cands[j]->name, p->name))
				marked_same = 1;
		if (marked_same)
			continue;
		if (!best || better(s, p, real, best, bestreal))
			best = p, bestreal = real;
	}
	if (!best) {
		int provided = 0;
		for (int i = 0; i < s->ncands && !provided; i++)
			for (int j = 0; j < s->cands[i]->nprovides; j++)
				if (!strcmp(s->cands[i]->provides[j].name, d->name))
					provided = 1;
		if (any_name || provided) {
			char *ds = dep_format(d);
			add_error(s, ds, "no version that satisfies it", by, d);
			free(ds);
		} else {
			add_error(s, d->name, "no such package", by, d);
		}
		return;
	}
	select_pkg(s, best, depth);
}

static void check_conflicts(struct solver *s, const struct dep *d, const char *by)
{
	struct dep pos = *d;
	pos.conflict = 0;
	for (int i = 0; i < s->nsel; i++) {
		if (!pkg_satisfies(s->sel[i], &pos, NULL))
			continue;
		char *nv = pkg_nv(s->sel[i]);
		char *ds = dep_format(d);
		buf_printf(&s->errors, "  %s:\n    conflicts: %s[%s]\n", nv, by, ds);
		s->nerrors++;
		free(nv);
		free(ds);
	}
}

int solve(struct apk_ctx *c, char **world, int nworld, int upgrade, struct pkg ***sel,
	  int *nsel)
{
	struct solver s = {.c = c, .upgrade = upgrade};
	/* Candidates: installed packages, then every indexed package not installed as is. */
	for (int i = 0; i < c->ninst; i++) {
		s.cands = xrealloc(s.cands, (s.ncands + 1) * sizeof *s.cands);
		s.cands[s.ncands++] = c->inst[i];
	}
	for (int i = 0; i < c->navail; i++) {
		struct pkg *a = c->avail[i];
		int dup = 0;
		for (int j = 0; j < s.ncands && !dup; j++)
			dup = !strcmp(s.cands[j]->name, a->name) &&
			      !strcmp(s.cands[j]->version, a->version);
		if (dup)
			continue;
		s.cands = xrealloc(s.cands, (s.ncands + 1) * sizeof *s.cands);
		s.cands[s.ncands++] = a;
	}
	for (int i = 0; i < s.ncands; i++)
		s.cands[i]->mark = 0;
	for (int i = 0; i < nworld; i++) {
		struct dep d;
		if (dep_parse(world[i], &d) < 0) {
			buf_printf(&s.errors, "  %s (not a valid dependency)\n", world[i]);
			s.nerrors++;
			continue;
		}
		if (!d.conflict)
			select_dep(&s, &d, "world", 0);
		dep_free(&d);
	}
	for (int i = 0; i < nworld; i++) {
		struct dep d;
		if (dep_parse(world[i], &d) == 0 && d.conflict)
			check_conflicts(&s, &d, "world");
		dep_free(&d);
	}
	for (int i = 0; i < s.nsel; i++) {
		char *nv = pkg_nv(s.sel[i]);
		for (int j = 0; j < s.sel[i]->ndeps; j++)
			if (s.sel[i]->deps[j].conflict)
				check_conflicts(&s, &s.sel[i]->deps[j], nv);
		free(nv);
	}
	for (int i = 0; i < s.ncands; i++)
		s.cands[i]->mark = 0;
	free(s.cands);
	if (s.nerrors) {
		apk_err("unable to select packages:\n%.*s", (int)(s.errors.len ? s.errors.len - 1 : 0),
			s.errors.p ? (char *)s.errors.p : "");
		buf_free(&s.errors);
		free(s.sel);
		return -1;
	}
	*sel = s.sel;
	*nsel = s.nsel;
	return 0;
}

int changes_compute(struct apk_ctx *c, struct pkg **sel, int nsel, struct change **out,
		    int *nout)
{
	struct change *ch = NULL;
	int n = 0;
	for (int i = 0; i < nsel; i++) {
		struct pkg *old = NULL;
		for (int j = 0; j < c->ninst; j++)
			if (!strcmp(c->inst[j]->name, sel[i]->name))
				old = c->inst[j];
		if (old == sel[i])
			continue;
		ch = xrealloc(ch, (n + 1) * sizeof *ch);
		ch[n].old = old;
		ch[n++].new = sel[i];
	}
	for (int j = c->ninst - 1; j >= 0; j--) {
		int kept = 0;
		for (int i = 0; i < nsel && !kept; i++)
			kept = !strcmp(c->inst[j]->name, sel[i]->name);
		if (kept)
			continue;
		ch = xrealloc(ch, (n + 1) * sizeof *ch);
		ch[n].old = c->inst[j];
		ch[n++].new = NULL;
	}
	*out = ch;
	*nout = n;
	return 0;
}
