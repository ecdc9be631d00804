/* Buffers, strings, files, messages and running programs. */
#include "apk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int apk_verbosity = 1;

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "ERROR: out of memory\n");
		exit(1);
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "ERROR: out of memory\n");
		exit(1);
	}
	return p;
}

char *xstrdup(const char *s) { return s ? strcpy(xmalloc(strlen(s) + 1), s) : NULL; }

char *xstrndup(const char *s, size_t n)
{
	char *r = xmalloc(n + 1);
	memcpy(r, s, n);
	r[n] = 0;
	return r;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *r = xmalloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(r, n + 1, fmt, ap);
	va_end(ap);
	return r;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
}

void buf_addstr(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *tmp = xmalloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(tmp, n + 1, fmt, ap);
	va_end(ap);
	buf_add(b, tmp, n);
	free(tmp);
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

char *buf_cstr(struct buf *b)
{
	buf_add(b, "", 0);
	return (char *)b->p;
}

static void vmsg(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs(prefix, f);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

void apk_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(stderr, "ERROR: ", fmt, ap);
	va_end(ap);
}

void apk_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(stderr, "WARNING: ", fmt, ap);
	va_end(ap);
}

void apk_msg(const char *fmt, ...)
{
	if (apk_verbosity < 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(stdout, "", fmt, ap);
	va_end(ap);
}

void apk_dbg(const char *fmt, ...)
{
	if (apk_verbosity < 2)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(stdout, "", fmt, ap);
	va_end(ap);
}

int read_file(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char tmp[65536];
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof tmp);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		buf_add(out, tmp, r);
	}
	close(fd);
	buf_add(out, "", 0);
	return 0;
}

static int write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= w;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t n, mode_t mode)
{
	char *tmp = xasprintf("%s.apk-new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int r = fd < 0 ? -errno : 0;
	if (!r)
		r = write_all(fd, data, n);
	if (!r && fsync(fd) < 0 && errno != EINVAL && errno != ENOSYS)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	free(tmp);
	return r;
}

int mkdirs(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return -e;
		}
		*s = '/';
	}
	int r = (mkdir(p, mode) < 0 && errno != EEXIST) ? -errno : 0;
	free(p);
	return r;
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (*b == '/')
		b++;
	if (la && a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

int run_program(char *const argv[], const char *cwd, const char *root)
{
	extern char **environ;
	static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	fflush(NULL);
	/* vfork: the child only changes directory and execs; fork is ENOSYS on wasm. */
	pid_t pid = vfork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (root && chroot(root) < 0)
			_exit(127);
		if (cwd && chdir(cwd) < 0)
			_exit(127);
		execve(argv[0], argv, root ? env : environ);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

char *rootpath(struct apk_ctx *c, const char *rel) { return path_join(c->root, rel); }
