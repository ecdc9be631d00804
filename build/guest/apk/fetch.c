/* Fetching: http:// over a plain socket (HTTP/1.1 GET, Content-Length or chunked
 * bodies, redirects) and local paths / file:// URLs. */
#include "apk.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	int fd;
	unsigned char in[16384];
	size_t have, pos;
};

static int conn_fill(struct conn *c)
{
	if (c->pos < c->have)
		return 1;
	for (;;) {
		ssize_t r = read(c->fd, c->in, sizeof c->in);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return (int)r;
		c->pos = 0;
		c->have = r;
		return 1;
	}
}

/* Reads one CRLF-terminated line (without the CRLF); -1 on EOF/error. */
static int conn_line(struct conn *c, char *out, size_t max)
{
	size_t n = 0;
	for (;;) {
		if (conn_fill(c) <= 0)
			return -1;
		char ch = c->in[c->pos++];
		if (ch == '\n')
			break;
		if (n + 1 < max)
			out[n++] = ch;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = 0;
	return (int)n;
}

struct progress {
	const char *label;
	long long total, done;
	int last;
	int tty;
};

static void progress_update(struct progress *p)
{
	if (!p->tty || !p->label || p->total <= 0)
		return;
	int pct = (int)(p->done * 100 / p->total);
	if (pct == p->last)
		return;
	p->last = pct;
	fprintf(stderr, "\r %3d%% %s", pct, p->label);
	fflush(stderr);
}

static void progress_end(struct progress *p)
{
	if (p->tty && p->label && p->total > 0 && p->last >= 0)
		fprintf(stderr, "\r\033[K");
}

/* Reads exactly n bytes (or to EOF when n < 0) into out. */
static int conn_body(struct conn *c, long long n, struct buf *out, struct progress *pg)
{
	while (n != 0) {
		int r = conn_fill(c);
		if (r < 0)
			return -1;
		if (r == 0)
			return n < 0 ? 0 : -1;
		size_t avail = c->have - c->pos;
		if (n > 0 && (long long)avail > n)
			avail = n;
		buf_add(out, c->in + c->pos, avail);
		c->pos += avail;
		if (n > 0)
			n -= avail;
		pg->done += avail;
		progress_update(pg);
	}
	return 0;
}

static int http_get(const char *url, struct buf *out, const char *label, char *err,
		    size_t errlen, char **redirect)
{
	const char *h = url + 7;
	const char *slash = strchr(h, '/');
	char *hostport = slash ? xstrndup(h, slash - h) : xstrdup(h);
	const char *path = slash ? slash : "/";
	char *host = xstrdup(hostport);
	const char *port = "80";
	char *colon = strrchr(host, ':');
	if (colon && !strchr(colon, ']')) {
		*colon = 0;
		port = colon + 1;
	}
	char *hostname = host;
	if (hostname[0] == '[') { /* [v6 literal] */
		hostname++;
		char *e = strchr(hostname, ']');
		if (e)
			*e = 0;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int ret = -1;
	struct conn *c = xmalloc(sizeof *c);
	c->fd = -1;
	c->have = c->pos = 0;
	int gr = getaddrinfo(hostname, port, &hints, &ai);
	if (gr) {
		snprintf(err, errlen, "%s: DNS lookup failed: %s", hostname, gai_strerror(gr));
		goto out;
	}
	int last_errno = 0;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (c->fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		last_errno = errno;
		close(c->fd);
		c->fd = -1;
	}
	if (c->fd < 0) {
		snprintf(err, errlen, "%s: connect: %s", hostport, strerror(last_errno));
		goto out;
	}
	char *req = xasprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: apk-alpenglow\r\n"
			      "Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
			      path, hostport);
	size_t rl = strlen(req), off = 0;
	while (off < rl) {
		ssize_t w = write(c->fd, req + off, rl - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: send: %s", hostport, strerror(errno));
			free(req);
			goto out;
		}
		off += w;
	}
	free(req);
	char line[4096];
	if (conn_line(c, line, sizeof line) < 0 || strncmp(line, "HTTP/1.", 7)) {
		snprintf(err, errlen, "%s: no HTTP response", url);
		goto out;
	}
	int status = atoi(line + 9);
	long long clen = -1;
	int chunked = 0;
	char *location = NULL;
	for (;;) {
		if (conn_line(c, line, sizeof line) < 0) {
			snprintf(err, errlen, "%s: truncated HTTP headers", url);
			free(location);
			goto out;
		}
		if (!line[0])
			break;
		char *v = strchr(line, ':');
		if (!v)
			continue;
		*v++ = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		if (!strcasecmp(line, "content-length"))
			clen = atoll(v);
		else if (!strcasecmp(line, "transfer-encoding") && strcasestr(v, "chunked"))
			chunked = 1;
		else if (!strcasecmp(line, "location")) {
			free(location);
			location = xstrdup(v);
		}
	}
	if (status >= 300 && status < 400 && location) {
		*redirect = location;
		ret = 1;
		goto out;
	}
	free(location);
	if (status != 200) {
		snprintf(err, errlen, "%s: HTTP %d", url, status);
		goto out;
	}
	struct progress pg = {label, clen, 0, -1, isatty(2)};
	if (chunked) {
		for (;;) {
			if (conn_line(c, line, sizeof line) < 0)
				break;
			long long n = strtoll(line, NULL, 16);
			if (n == 0) {
				ret = 0;
				break;
			}
			if (conn_body(c, n, out, &pg) < 0 || conn_line(c, line, sizeof line) < 0)
				break;
		}
		if (ret)
			snprintf(err, errlen, "%s: truncated chunked body", url);
	} else {
		ret = conn_body(c, clen, out, &pg);
		if (ret)
			snprintf(err, errlen, "%s: connection closed after %zu of %lld bytes", url,
				 out->len, clen);
	}
	progress_end(&pg);
out:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	if (ai)
		freeaddrinfo(ai);
	free(hostport);
	free(host);
	return ret;
}

int fetch_url(const char *url, struct buf *out, const char *label, char *err, size_t errlen)
{
	char *cur = xstrdup(url);
	for (int hops = 0; hops < 6; hops++) {
		if (strncmp(cur, "http://", 7)) {
			const char *path = !strncmp(cur, "file://", 7) ? cur + 7 : cur;
			if (strstr(cur, "://")) {
				snprintf(err, errlen, "%s: unsupported URL scheme", cur);
				free(cur);
				return -1;
			}
			int r = read_file(path, out);
			if (r < 0)
				snprintf(err, errlen, "%s: %s", path, strerror(-r));
			free(cur);
			return r < 0 ? -1 : 0;
		}
		char *redirect = NULL;
		out->len = 0;
		int r = http_get(cur, out, label, err, errlen, &redirect);
		if (r <= 0) {
			free(cur);
			return r;
		}
		if (redirect[0] == '/') { /* absolute path on the same host */
			const char *slash = strchr(cur + 7, '/');
			size_t hl = slash ? (size_t)(slash - cur) : strlen(cur);
			char *n = xasprintf("%.*s%s", (int)hl, cur, redirect);
			free(redirect);
			redirect = n;
		}
		apk_dbg("redirect: %s -> %s", cur, redirect);
		free(cur);
		cur = redirect;
	}
	snprintf(err, errlen, "%s: too many redirects", url);
	free(cur);
	return -1;
}
