/* Alpine's version ordering and dependency constraints ("foo>=1.2", "!foo"). */
#include "apk.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Token classes in comparison order at a position where the two versions differ. */
enum { T_DIGIT, T_LETTER, T_SUFFIX, T_RELEASE, T_END, T_INVALID };

static const char *const pre_suffixes[] = {"alpha", "beta", "pre", "rc"};
static const char *const post_suffixes[] = {"cvs", "svn", "git", "hg", "p"};

/* Suffix rank: pre-release suffixes are below "no suffix" (0), post-release above. */
static int suffix_rank(const char **s)
{
	for (int i = 0; i < 4; i++) {
		size_t l = strlen(pre_suffixes[i]);
		if (!strncmp(*s, pre_suffixes[i], l)) {
			*s += l;
			return -4 + i;
		}
	}
	for (int i = 0; i < 5; i++) {
		size_t l = strlen(post_suffixes[i]);
		if (!strncmp(*s, post_suffixes[i], l)) {
			*s += l;
			return 1 + i;
		}
	}
	return 100; /* unknown suffix */
}

struct vtok {
	int type;
	long long num;
	int first; /* first number component: compared numerically, else as a fraction */
	const char *s;
	size_t slen;
};

/* Reads the next token of v at *p. `prev` is the previous token's type. */
static void next_tok(const char **p, int prev, struct vtok *t)
{
	const char *s = *p;
	memset(t, 0, sizeof *t);
	if (!*s) {
		t->type = T_END;
		return;
	}
	if (prev == -1 || (prev == T_DIGIT && *s == '.')) {
		if (*s == '.')
			s++;
		if (!isdigit((unsigned char)*s)) {
			t->type = T_INVALID;
			return;
		}
		t->type = T_DIGIT;
		t->first = prev == -1;
		t->s = s;
		while (isdigit((unsigned char)*s))
			s++;
		t->slen = s - t->s;
		*p = s;
		return;
	}
	if (prev == T_DIGIT && islower((unsigned char)*s) && !islower((unsigned char)s[1])) {
		t->type = T_LETTER;
		t->num = *s;
		*p = s + 1;
		return;
	}
	if ((prev == T_DIGIT || prev == T_LETTER || prev == T_SUFFIX) && *s == '_') {
		s++;
		t->type = T_SUFFIX;
		t->num = suffix_rank(&s);
		if (t->num == 100) {
			t->type = T_INVALID;
			return;
		}
		long long n = 0;
		while (isdigit((unsigned char)*s))
			n = n * 10 + (*s++ - '0');
		t->first = (int)n; /* the suffix's number */
		*p = s;
		return;
	}
	if (*s == '-' && s[1] == 'r' && isdigit((unsigned char)s[2])) {
		s += 2;
		t->type = T_RELEASE;
		while (isdigit((unsigned char)*s))
			t->num = t->num * 10 + (*s++ - '0');
		*p = s;
		return;
	}
	t->type = T_INVALID;
}

/* Compares digit strings: the first component numerically, later ones numerically too
 * unless one has a leading zero (then as decimal fractions, like apk-tools). */
static int cmp_digits(const struct vtok *a, const struct vtok *b)
{
	const char *x = a->s, *y = b->s;
	size_t lx = a->slen, ly = b->slen;
	if (!a->first && (x[0] == '0' || y[0] == '0')) {
		size_t l = lx < ly ? lx : ly;
		int c = memcmp(x, y, l);
		if (c)
			return c < 0 ? -1 : 1;
		return lx < ly ? -1 : lx > ly;
	}
	while (lx > 1 && *x == '0')
		x++, lx--;
	while (ly > 1 && *y == '0')
		y++, ly--;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	int c = memcmp(x, y, lx);
	return c < 0 ? -1 : c > 0;
}

int apk_version_cmp(const char *a, const char *b)
{
	struct vtok ta, tb;
	int pa = -1, pb = -1;
	for (;;) {
		next_tok(&a, pa, &ta);
		next_tok(&b, pb, &tb);
		if (ta.type == T_INVALID || tb.type == T_INVALID)
			return strcmp(a, b) < 0 ? -1 : strcmp(a, b) > 0;
		if (ta.type == T_END && tb.type == T_END)
			return 0;
		if (ta.type != tb.type) {
			/* Where one version ends or goes on differently: a pre-release suffix
			 * sorts below anything, everything else above the end. */
			int ra, rb;
			ra = ta.type == T_SUFFIX && ta.num < 0 ? -1 : ta.type == T_END ? 0 : 1;
			rb = tb.type == T_SUFFIX && tb.num < 0 ? -1 : tb.type == T_END ? 0 : 1;
			if (ra != rb)
				return ra < rb ? -1 : 1;
			/* Both continue with different kinds: order by kind (digit < letter <
			 * suffix < release). */
			return ta.type < tb.type ? 1 : -1;
		}
		int c = 0;
		switch (ta.type) {
		case T_DIGIT:
			c = cmp_digits(&ta, &tb);
			break;
		case T_LETTER:
		case T_RELEASE:
			c = ta.num < tb.num ? -1 : ta.num > tb.num;
			break;
		case T_SUFFIX:
			c = ta.num < tb.num ? -1 : ta.num > tb.num;
			if (!c)
				c = ta.first < tb.first ? -1 : ta.first > tb.first;
			break;
		}
		if (c)
			return c;
		pa = ta.type;
		pb = tb.type;
	}
}

int apk_version_valid(const char *v)
{
	struct vtok t;
	int prev = -1;
	for (;;) {
		next_tok(&v, prev, &t);
		if (t.type == T_INVALID)
			return 0;
		if (t.type == T_END)
			return prev != -1;
		prev = t.type;
	}
}

int dep_parse(const char *s, struct dep *d)
{
	memset(d, 0, sizeof *d);
	if (*s == '!') {
		d->conflict = 1;
		s++;
	}
	size_t nl = strcspn(s, "<>=~");
	if (!nl)
		return -1;
	d->name = xstrndup(s, nl);
	s += nl;
	if (!*s)
		return 0;
	if (!strncmp(s, ">=", 2))
		d->op = OP_GE, s += 2;
	else if (!strncmp(s, "<=", 2))
		d->op = OP_LE, s += 2;
	else if (!strncmp(s, "=~", 2) || !strncmp(s, "~=", 2))
		d->op = OP_FUZZY, s += 2;
	else if (*s == '>')
		d->op = OP_GT, s++;
	else if (*s == '<')
		d->op = OP_LT, s++;
	else if (*s == '=')
		d->op = OP_EQ, s++;
	else if (*s == '~')
		d->op = OP_FUZZY, s++;
	if (!*s || !apk_version_valid(s)) {
		dep_free(d);
		return -1;
	}
	d->ver = xstrdup(s);
	return 0;
}

int dep_match_version(const struct dep *d, const char *ver)
{
	if (d->op == OP_ANY)
		return 1;
	if (!ver)
		return 0;
	if (d->op == OP_FUZZY) {
		/* "~1.2" matches 1.2, 1.2.x, 1.2-rN: the constraint is a version prefix. */
		size_t l = strlen(d->ver);
		return !strncmp(ver, d->ver, l) &&
		       (ver[l] == 0 || ver[l] == '.' || ver[l] == '-' || ver[l] == '_');
	}
	int c = apk_version_cmp(ver, d->ver);
	switch (d->op) {
	case OP_EQ:
		return c == 0;
	case OP_GE:
		return c >= 0;
	case OP_LE:
		return c <= 0;
	case OP_GT:
		return c > 0;
	case OP_LT:
		return c < 0;
	}
	return 0;
}

char *dep_format(const struct dep *d)
{
	static const char *const ops[] = {"", "=", ">=", "<=", ">", "<", "~"};
	return xasprintf("%s%s%s%s", d->conflict ? "!" : "", d->name, ops[d->op],
			 d->ver ? d->ver : "");
}

void dep_free(struct dep *d)
{
	free(d->name);
	free(d->ver);
	d->name = d->ver = NULL;
}
