/* apk: Alpenglow's package manager client. Speaks Alpine's apk v2 package and index
 * formats and keeps apk-tools' database layout (see docs/apk.md). */
#ifndef APK_H
#define APK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- util.c: buffers, strings, files, messages ---- */
struct buf {
	unsigned char *p;
	size_t len, cap;
};
void buf_add(struct buf *b, const void *data, size_t n);
void buf_addstr(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);
char *buf_cstr(struct buf *b); /* NUL-terminates, returns p */

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

extern int apk_verbosity; /* 0 = -q, 1 = normal, 2 = -v */
void apk_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void apk_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void apk_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void apk_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int read_file(const char *path, struct buf *out); /* 0 or -errno */
int write_file_atomic(const char *path, const void *data, size_t n, mode_t mode);
int mkdirs(const char *path, mode_t mode); /* mkdir -p */
char *path_join(const char *a, const char *b);
/* Runs argv[0] with vfork+execve (fork is ENOSYS on wasm), in dir `cwd`, chrooted
 * to `root` when non-NULL. Returns the exit status (or -1). */
int run_program(char *const argv[], const char *cwd, const char *root);

/* ---- crypto.c: hashes and signatures (mbedtls) ---- */
void sha1(const void *data, size_t n, unsigned char out[20]);
void sha256(const void *data, size_t n, unsigned char out[32]);
void hex(const unsigned char *h, size_t n, char *out); /* out: 2n+1 */
void b64(const unsigned char *h, size_t n, char *out); /* out: 4*ceil(n/3)+1 */
/* Verifies an RSA PKCS#1 v1.5 signature made with the PEM public key at `keypath`.
 * md: 1 = SHA-1, 256 = SHA-256. Returns 0 on success, -1 bad signature, -2 bad key. */
int rsa_verify(const char *keypath, int md, const void *data, size_t n,
	       const unsigned char *sig, size_t siglen);

/* ---- gz.c + tar.c: gzip members and tar entries ---- */
struct gz_member {
	size_t off, len;      /* compressed byte range in the file */
	struct buf data;      /* its decompressed bytes */
};
/* Splits a multi-member gzip file into its members. Returns count or -1 (msg set). */
int gz_split(const unsigned char *p, size_t n, struct gz_member **out, const char **msg);
void gz_free(struct gz_member *m, int n);
int gz_compress(const void *data, size_t n, struct buf *out);

struct tar_entry {
	char *name;
	char type; /* '0' file, '5' dir, '2' symlink, '1' hardlink */
	unsigned mode, uid, gid;
	long long mtime;
	char *link;
	const unsigned char *data;
	size_t size;
	char *sha1hex; /* APK-TOOLS.checksum.SHA1 when present */
};
/* Calls cb for every entry; stops at end-of-archive or the end of the bytes (segments
 * without end blocks are allowed). Returns 0, the callback's nonzero value, or -1. */
typedef int (*tar_cb)(struct tar_entry *e, void *ctx);
int tar_walk(const unsigned char *p, size_t n, tar_cb cb, void *ctx, const char **msg);
void tar_write_file(struct buf *out, const char *name, unsigned mode, const void *data,
		    size_t n, long long mtime);
void tar_write_end(struct buf *out);

/* ---- version.c: Alpine version ordering, dependency strings ---- */
int apk_version_cmp(const char *a, const char *b); /* <0, 0, >0 */
int apk_version_valid(const char *v);
enum { OP_ANY = 0, OP_EQ, OP_GE, OP_LE, OP_GT, OP_LT, OP_FUZZY };
struct dep {
	char *name;
	int op;
	char *ver;
	int conflict; /* !name */
};
int dep_parse(const char *s, struct dep *d); /* 0 or -1 */
int dep_match_version(const struct dep *d, const char *ver);
char *dep_format(const struct dep *d);
void dep_free(struct dep *d);

/* ---- pkg: package records (index, database) ---- */
struct file_rec {
	char *name; /* relative to the directory */
	unsigned mode, uid, gid;
	char csum[32]; /* "Q1" + base64 sha1, or "" */
};
struct dir_rec {
	char *name; /* e.g. "usr/bin" ("" for the root) */
	unsigned mode, uid, gid;
	int have_acl;
	struct file_rec *files;
	int nfiles;
};
struct pkg {
	char *name, *version, *arch, *desc, *url, *license, *origin, *maintainer;
	char *csum;   /* C: */
	char *commit; /* c: */
	long long size, isize, buildtime;
	struct dep *deps;
	int ndeps;
	struct dep *provides;
	int nprovides;
	char *install_if;
	int repo;   /* index into repos, -1 for none */
	char *filename; /* local .apk path (file repos / cache) */
	/* installed only */
	struct dir_rec *dirs;
	int ndirs;
	int installed;
	int is_virtual;
	int mark; /* solver scratch */
};
struct pkg *pkg_new(void);
void pkg_free(struct pkg *p);
/* Parses one `X:value` line into p; unknown letters are ignored. */
void pkg_set_field(struct pkg *p, char letter, const char *value);
void pkg_write_record(struct buf *out, const struct pkg *p, int with_files);
char *pkg_nv(const struct pkg *p); /* "name-version" */

/* ---- repo.c: repositories, index download and parsing ---- */
struct repo {
	char *url;
	char *tag; /* @tag or NULL */
	char *description;
	int npkgs;
	int ok;
};
struct apk_ctx;
int repos_load(struct apk_ctx *c);
int repo_update(struct apk_ctx *c, int i, int force);
int index_parse(struct apk_ctx *c, const unsigned char *text, size_t n, int repo);
/* Verifies a signed two-member file (index) and returns the member index of the content. */
/* Checks the signature member of a signed file (index or package): returns the index of
 * the first content member, or -1 after printing why the file is refused. */
int verify_signed(struct apk_ctx *c, const char *what, const unsigned char *raw,
		  struct gz_member *m, int nm, char **keyname_out);
char *repo_cache_path(struct apk_ctx *c, int i);

/* ---- fetch.c ---- */
/* Fetches url (http:// or a local path / file://) into out. label is for progress. */
int fetch_url(const char *url, struct buf *out, const char *label, char *err, size_t errlen);

/* ---- package.c: .apk reading and verification ---- */
struct apk_file {
	struct buf raw;
	struct gz_member *m;
	int nm;
	int ctrl, data; /* member indexes */
	struct pkg *info; /* from .PKGINFO */
	struct { char *name; struct buf body; } scripts[8];
	int nscripts;
	char *keyname;
};
int apk_file_load(struct apk_ctx *c, const char *label, struct buf *raw, const char *expect_csum,
		  struct apk_file *out);
void apk_file_free(struct apk_file *f);
const struct buf *apk_file_script(const struct apk_file *f, const char *name);

/* ---- db.c: the installed database, world, lock ---- */
int db_open(struct apk_ctx *c, int write);
int db_write(struct apk_ctx *c, struct pkg **inst, int n, char **world, int nworld,
	     struct buf *scripts_tar);
int db_initdb(struct apk_ctx *c);

/* ---- solver.c ---- */
struct change {
	struct pkg *old, *new; /* install: old NULL; remove: new NULL */
};
int solve(struct apk_ctx *c, char **world, int nworld, int upgrade, struct pkg ***sel,
	  int *nsel);
int changes_compute(struct apk_ctx *c, struct pkg **sel, int nsel, struct change **out,
		    int *nout);

/* ---- commit.c: the transaction ---- */
int commit_changes(struct apk_ctx *c, struct change *ch, int nch, char **world, int nworld,
		   struct pkg **sel, int nsel);
int pkg_fetch(struct apk_ctx *c, struct pkg *p, struct buf *raw, int to_cache);

/* ---- context ---- */
struct apk_ctx {
	const char *root;
	char *arch;
	int allow_untrusted, no_network, simulate, no_cache, initdb, force_refresh;
	char **extra_repos;
	int nextra;
	struct repo *repos;
	int nrepos;
	struct pkg **avail; /* from indexes */
	int navail;
	struct pkg **inst; /* installed */
	int ninst;
	char **world;
	int nworld;
	struct buf scripts_tar; /* raw /lib/apk/db/scripts.tar */
	int lockfd;
	int interactive_progress;
};
char *rootpath(struct apk_ctx *c, const char *rel);

#endif
