/*
 * Files between the page and the guest, over /dev/hvc1 (the second virtio
 * console; docs/files-protocol.md). One program, two names:
 *
 *   alpenglow-files     the helper: /etc/inittab respawns it. It owns hvc1,
 *                       stores uploads from the page in /root and sends the
 *                       files `download` asks for.
 *   download FILE...    asks the helper to send FILEs to the page, which
 *                       saves them as browser downloads; says how it went.
 *
 * The helper also runs the guest's own `apk` for the page's Packages panel
 * (an `A` frame), and sends back what it writes (`O`) and how it ended (`Z`).
 *
 * The frames on hvc1 are those of docs/files-protocol.md (the page's side is
 * kernel-host/src/files/wire.rs): "AG", a type byte, 0, the payload length
 * (u32 little endian), the payload. The tty is raw (cfmakeraw), so every byte
 * passes unchanged. `download` talks to the helper
 * through the FIFO /run/alpenglow-files/requests ("REPLY\0PATH\0", one
 * write, so it is atomic) and reads one line back from its own FIFO REPLY:
 * "ok\n" or "error MESSAGE\n".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Overridable for a native test of the protocol (over a pty). */
#ifndef DEVICE
#define DEVICE "/dev/hvc1"
#endif
#ifndef RUN_DIR
#define RUN_DIR "/run/alpenglow-files"
#endif
#define REQUESTS RUN_DIR "/requests"
#ifndef HOME
#define HOME "/root"
#endif
#ifndef APK
#define APK "/sbin/apk"
#endif
#define HELPER "alpenglow-files"

#define VERSION 2
#define HEADER_LEN 8
#define MAX_NAME 255
#define MAX_CONTROL 4096	/* payload of any frame but data */
#define CHUNK (64 * 1024)	/* file data per frame we send */
#define MAX_PENDING 64

static int tty = -1;

/* ---- writing frames ---- */

static int write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len) {
		ssize_t n = write(fd, b, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= n;
	}
	return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static uint32_t get_u32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
	return get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* A frame: `head` (fixed fields) then `tail` (a name, a message or data). */
static int send_frame(char type, const void *head, size_t head_len,
		      const void *tail, size_t tail_len)
{
	unsigned char h[HEADER_LEN] = { 'A', 'G', type, 0 };

	put_u32(h + 4, head_len + tail_len);
	if (write_all(tty, h, sizeof(h)) || write_all(tty, head, head_len) ||
	    write_all(tty, tail, tail_len)) {
		fprintf(stderr, HELPER ": writing to " DEVICE ": %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

static int send_id_text(char type, uint32_t id, const char *text)
{
	unsigned char h[4];

	put_u32(h, id);
	return send_frame(type, h, 4, text, strlen(text));
}

/* ---- uploads: the page's files into /root ---- */

static struct {
	int active;
	uint32_t id;
	uint64_t size, got;
	int fd;			/* -1 once failed */
	char path[PATH_MAX];
	char error[PATH_MAX + 256];
} up;

/* What the page calls the file, as a name in /root, or why it cannot be one. */
static const char *clean_name(const unsigned char *raw, size_t len, char *out)
{
	const unsigned char *base = raw;

	for (size_t i = 0; i < len; i++)
		if (raw[i] == '/' || raw[i] == '\\')
			base = raw + i + 1;
	len -= base - raw;
	if (len == 0 || len > MAX_NAME)
		return "the name is empty";
	if ((len == 1 && base[0] == '.') || (len == 2 && !memcmp(base, "..", 2)))
		return "the name is . or ..";
	for (size_t i = 0; i < len; i++)
		out[i] = (base[i] < 0x20 || base[i] == 0x7f) ? '_' : base[i];
	out[len] = 0;
	return NULL;
}

/*
 * Creates /root/NAME, or NAME-1, NAME-2, … before the first dot (notes-1.txt)
 * if it exists: an upload never replaces a file.
 */
static int create_unique(const char *name)
{
	const char *dot = strchr(name + 1, '.');
	int stem = dot ? (int)(dot - name) : (int)strlen(name);

	for (int n = 0; n < 1000; n++) {
		int fd;

		if (n == 0)
			snprintf(up.path, sizeof(up.path), HOME "/%s", name);
		else
			snprintf(up.path, sizeof(up.path), HOME "/%.*s-%d%s",
				 stem, name, n, dot ? dot : "");
		fd = open(up.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

static void upload_fail(const char *what)
{
	if (up.fd >= 0) {
		close(up.fd);
		unlink(up.path);
		up.fd = -1;
	}
	if (!up.error[0])
		snprintf(up.error, sizeof(up.error), "%s", what);
}

static void upload_finish(void)
{
	up.active = 0;
	if (up.fd >= 0 && close(up.fd) < 0) {
		up.fd = -1;
		snprintf(up.error, sizeof(up.error), "%s: %s", up.path,
			 strerror(errno));
		unlink(up.path);
	}
	if (up.error[0])
		send_id_text('R', up.id, up.error);
	else
		send_id_text('S', up.id, up.path);
}

static void upload_begin(const unsigned char *p, size_t len)
{
	char name[MAX_NAME + 1];
	const char *bad;

	if (up.active) {
		upload_fail("another upload began");
		upload_finish();
	}
	memset(&up, 0, sizeof(up));
	up.active = 1;
	up.id = get_u32(p);
	up.size = get_u64(p + 4);
	up.fd = -1;
	bad = clean_name(p + 12, len - 12, name);
	if (bad) {
		snprintf(up.error, sizeof(up.error), "%s", bad);
	} else {
		up.fd = create_unique(name);
		if (up.fd < 0)
			snprintf(up.error, sizeof(up.error), HOME "/%s: %s",
				 name, strerror(errno));
	}
	if (up.size == 0)
		upload_finish();
}

static void upload_data(const unsigned char *p, size_t len)
{
	if (up.fd >= 0 && write_all(up.fd, p, len) < 0) {
		char why[PATH_MAX + 64];

		snprintf(why, sizeof(why), "%s: %s", up.path, strerror(errno));
		upload_fail(why);
	}
	up.got += len;
	if (up.got == up.size)
		upload_finish();
}

/* ---- downloads: files to the page ---- */

static struct {
	uint32_t id;
	char reply[PATH_MAX];
} pending[MAX_PENDING];
static uint32_t last_download;

static void answer(const char *reply, const char *line)
{
	int fd = open(reply, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	/* The asker may have gone (Ctrl-C): nobody to tell. */
	if (fd < 0)
		return;
	write_all(fd, line, strlen(line));
	close(fd);
}

static void answer_error(const char *reply, const char *what, int err)
{
	char line[PATH_MAX + 128];

	snprintf(line, sizeof(line), "error %s: %s\n", what, strerror(err));
	answer(reply, line);
}

/* Sends `path` to the page; the answer goes to `reply` once the page acks. */
static void download(const char *reply, const char *path)
{
	static unsigned char buf[CHUNK];
	unsigned char head[12];
	const char *base = strrchr(path, '/');
	uint64_t sent = 0;
	struct stat st;
	uint32_t id;
	int fd, slot;

	base = base ? base + 1 : path;
	for (slot = 0; slot < MAX_PENDING && pending[slot].id; slot++)
		;
	if (slot == MAX_PENDING) {
		answer(reply, "error too many downloads at once\n");
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		answer_error(reply, path, errno);
		return;
	}
	if (fstat(fd, &st) < 0) {
		answer_error(reply, path, errno);
		close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		answer_error(reply, path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
		close(fd);
		return;
	}
	if (!*base || strlen(base) > MAX_NAME) {
		answer(reply, "error the file name is empty or too long\n");
		close(fd);
		return;
	}
	id = ++last_download ? last_download : ++last_download;
	put_u32(head, id);
	put_u64(head + 4, st.st_size);
	if (send_frame('B', head, 12, base, strlen(base)))
		goto broken;
	while (sent < (uint64_t)st.st_size) {
		size_t want = st.st_size - sent < CHUNK ? st.st_size - sent : CHUNK;
		ssize_t n = read(fd, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			char why[PATH_MAX + 64];

			snprintf(why, sizeof(why), "%s: %s", path,
				 n ? strerror(errno) : "the file got shorter");
			send_id_text('X', id, why);
			snprintf(why, sizeof(why), "error %s: %s\n", path,
				 n ? strerror(errno) : "the file got shorter");
			answer(reply, why);
			close(fd);
			return;
		}
		if (send_frame('D', head, 4, buf, n))
			goto broken;
		sent += n;
	}
	close(fd);
	if (send_frame('F', head, 4, "", 0))
		goto broken;
	pending[slot].id = id;
	snprintf(pending[slot].reply, sizeof(pending[slot].reply), "%s", reply);
	return;
broken:
	close(fd);
	answer_error(reply, DEVICE, errno);
}

static void acked(const unsigned char *p, size_t len)
{
	uint32_t id = get_u32(p);
	char line[MAX_CONTROL + 16];

	for (int i = 0; i < MAX_PENDING; i++) {
		if (pending[i].id != id)
			continue;
		if (p[4] == 0)
			snprintf(line, sizeof(line), "ok\n");
		else
			snprintf(line, sizeof(line), "error the page: %.*s\n",
				 (int)(len - 5), (const char *)p + 5);
		answer(pending[i].reply, line);
		pending[i].id = 0;
		return;
	}
}

/* ---- reading frames from the page ---- */

/* ---- apk runs for the page's Packages panel ---- */

static struct {
	int active;
	int orphan;		/* the page forgot it (a new session) */
	uint32_t id;
	int fd;			/* apk's standard output and error */
	pid_t pid;
} run = { .fd = -1 };

static void run_exited(int32_t status)
{
	unsigned char h[8];

	if (!run.orphan) {
		put_u32(h, run.id);
		put_u32(h + 4, (uint32_t)status);
		send_frame('Z', h, 8, NULL, 0);
	}
	run.active = 0;
	run.orphan = 0;
}

/* `A`: id, then NUL-terminated arguments. apk runs with no terminal (so it
 * draws no progress bar) and its output comes back as `O` frames. */
static void run_begin(const unsigned char *p, size_t len)
{
	static char *argv[256];
	static char args[MAX_CONTROL + 1];
	static char *const envp[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "TERM=dumb", NULL
	};
	uint32_t id = get_u32(p);
	size_t argc = 1, at;
	int fds[2];

	if (run.active) {
		unsigned char h[8];

		/* The page runs one at a time: refuse, and let that one go on. */
		send_id_text('O', id, "another apk run is under way\n");
		put_u32(h, id);
		put_u32(h + 4, 126);
		send_frame('Z', h, 8, NULL, 0);
		return;
	}
	memcpy(args, p + 4, len - 4);
	args[len - 4] = 0;
	argv[0] = "apk";
	for (at = 0; at < len - 4 && argc < 255; argc++) {
		argv[argc] = args + at;
		at += strlen(args + at) + 1;
	}
	argv[argc] = NULL;
	run.id = id;
	run.active = 1;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		send_id_text('O', id, strerror(errno));
		run_exited(127);
		return;
	}
	run.pid = vfork();
	if (run.pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		execve(APK, argv, envp);
		_exit(127);
	}
	close(fds[1]);
	if (run.pid < 0) {
		close(fds[0]);
		send_id_text('O', id, "cannot start apk\n");
		run_exited(127);
		return;
	}
	run.fd = fds[0];
}

/* apk wrote something, or ended. */
static void run_output(void)
{
	static unsigned char buf[16384];
	unsigned char h[4];
	ssize_t n = read(run.fd, buf, sizeof(buf));
	int st = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		if (!run.orphan) {
			put_u32(h, run.id);
			send_frame('O', h, 4, buf, n);
		}
		return;
	}
	close(run.fd);
	run.fd = -1;
	while (waitpid(run.pid, &st, 0) < 0 && errno == EINTR)
		;
	run_exited(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
}

static enum { SYNCING, HEADER, PAYLOAD } state;
static unsigned char sync_frame[16];	/* the Y frame with our nonce */
static unsigned char window[16];
static size_t seen;
static unsigned char header[HEADER_LEN], control[MAX_CONTROL];
static size_t have, need;
static int data_frame;		/* the payload streams to the upload */
static int data_ours;		/* ... and belongs to it */

static void hello(void)
{
	unsigned char h[12];
	uint64_t nonce = 0;

	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		nonce = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	memcpy(sync_frame, "AGY\0\x08\0\0\0", 8);
	put_u64(sync_frame + 8, nonce);
	put_u64(h, nonce);
	put_u32(h + 8, VERSION);
	state = SYNCING;
	seen = 0;
	send_frame('H', h, 12, NULL, 0);
}

/* The stream makes no sense: drop what was under way and start again. */
static void lost(const char *why)
{
	fprintf(stderr, HELPER ": %s; starting again\n", why);
	if (up.active) {
		upload_fail("the stream from the page broke");
		up.active = 0;
	}
	/* The page fails its run at our hello; apk itself finishes its work. */
	if (run.active)
		run.orphan = 1;
	hello();
}

static int control_frame(void)
{
	char type = header[2];

	switch (type) {
	case 'Y':
		return 0;	/* a late duplicate */
	case 'P':
		if (need < 12)
			return -1;
		upload_begin(control, need);
		return 0;
	case 'C':
		if (need < 4)
			return -1;
		if (up.active && up.id == get_u32(control)) {
			upload_fail("cancelled");
			up.active = 0;
		}
		return 0;
	case 'K':
		if (need < 5)
			return -1;
		acked(control, need);
		return 0;
	case 'A':
		if (need < 4 || (need > 4 && control[need - 1]))
			return -1;
		run_begin(control, need);
		return 0;
	}
	return -1;
}

static void feed(const unsigned char *b, size_t n)
{
	while (n) {
		switch (state) {
		case SYNCING:
			/* Everything before our sync frame is old. */
			memmove(window, window + 1, sizeof(window) - 1);
			window[sizeof(window) - 1] = *b++;
			n--;
			if (++seen >= sizeof(window) &&
			    !memcmp(window, sync_frame, sizeof(window))) {
				state = HEADER;
				have = 0;
			}
			break;
		case HEADER: {
			size_t take = HEADER_LEN - have < n ? HEADER_LEN - have : n;

			memcpy(header + have, b, take);
			have += take;
			b += take;
			n -= take;
			if (have < HEADER_LEN)
				break;
			if (header[0] != 'A' || header[1] != 'G' || header[3]) {
				lost("bytes from the page that are not a frame");
				return;
			}
			need = get_u32(header + 4);
			have = 0;
			data_frame = header[2] == 'D';
			if (data_frame) {
				if (need < 4) {
					lost("a short data frame");
					return;
				}
			} else if (need > MAX_CONTROL) {
				lost("an oversized frame");
				return;
			}
			state = PAYLOAD;
			if (need == 0 && control_frame() < 0) {
				lost("a bad frame");
				return;
			}
			if (need == 0)
				state = HEADER;
			break;
		}
		case PAYLOAD: {
			size_t take = need - have < n ? need - have : n;

			if (data_frame && have >= 4) {
				if (data_ours) {
					if (up.got + take > up.size) {
						lost("more data than the upload's size");
						return;
					}
					upload_data(b, take);
				}
			} else {
				if (data_frame && take > 4 - have)
					take = 4 - have;
				memcpy(control + have, b, take);
				if (data_frame && have + take == 4)
					data_ours = up.active && up.id == get_u32(control);
			}
			have += take;
			b += take;
			n -= take;
			if (have < need)
				break;
			state = HEADER;
			have = 0;
			if (!data_frame && control_frame() < 0) {
				lost("a bad frame");
				return;
			}
			break;
		}
		}
	}
}

/* ---- requests from `download` ---- */

static char requests[2 * PIPE_BUF];
static size_t requests_len;

static void serve_requests(int fd)
{
	ssize_t n = read(fd, requests + requests_len,
			 sizeof(requests) - requests_len);
	size_t at = 0;

	if (n <= 0)
		return;
	requests_len += n;
	for (;;) {
		char *reply = requests + at;
		char *end = memchr(reply, 0, requests_len - at);
		char *path, *path_end;

		if (!end)
			break;
		path = end + 1;
		path_end = memchr(path, 0, requests + requests_len - path);
		if (!path_end)
			break;
		download(reply, path);
		at = path_end + 1 - requests;
	}
	memmove(requests, requests + at, requests_len - at);
	requests_len -= at;
	if (requests_len == sizeof(requests))
		requests_len = 0;	/* garbage: no request is this long */
}

static void helper(void)
{
	static unsigned char buf[CHUNK];
	struct termios t;
	struct pollfd fds[3];
	int req;

	tty = open(DEVICE, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0) {
		fprintf(stderr, HELPER ": %s: %s\n", DEVICE, strerror(errno));
		/* init respawns us: not in a tight loop. */
		sleep(30);
		exit(1);
	}
	if (tcgetattr(tty, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(tty, TCSANOW, &t);
	}
	tcflush(tty, TCIFLUSH);
	if (mkdir(RUN_DIR, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, HELPER ": %s: %s\n", RUN_DIR, strerror(errno));
		sleep(30);
		exit(1);
	}
	unlink(REQUESTS);
	/* O_RDWR: the FIFO never reads as ended when an asker closes it. */
	if (mkfifo(REQUESTS, 0600) < 0 ||
	    (req = open(REQUESTS, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
		fprintf(stderr, HELPER ": %s: %s\n", REQUESTS, strerror(errno));
		sleep(30);
		exit(1);
	}
	signal(SIGPIPE, SIG_IGN);
	up.fd = -1;
	hello();
	fds[0] = (struct pollfd){ .fd = tty, .events = POLLIN };
	fds[1] = (struct pollfd){ .fd = req, .events = POLLIN };
	for (;;) {
		fds[2] = (struct pollfd){ .fd = run.fd, .events = POLLIN };
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, HELPER ": poll: %s\n", strerror(errno));
			exit(1);
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(tty, buf, sizeof(buf));

			if (n < 0 && errno != EINTR && errno != EAGAIN) {
				fprintf(stderr, HELPER ": reading " DEVICE ": %s\n",
					strerror(errno));
				exit(1);
			}
			if (n > 0)
				feed(buf, n);
		}
		if (fds[1].revents & POLLIN)
			serve_requests(req);
		if (run.fd >= 0 && fds[2].revents & (POLLIN | POLLHUP | POLLERR))
			run_output();
	}
}

/* ---- the `download` command ---- */

static int helper_running(void)
{
	int fd = open(REQUESTS, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static char reply_path[64];

static void remove_reply(int sig)
{
	unlink(reply_path);
	if (sig) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

/* Reads the helper's one-line answer; waits as long as the helper lives. */
static int read_answer(int fd, char *line, size_t size)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 1000);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (!helper_running()) {
				snprintf(line, size, "error the file helper (" HELPER ") stopped");
				return -1;
			}
			continue;
		}
		n = read(fd, line + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(line, size, "error reading the answer: %s",
				 n ? strerror(errno) : "end of file");
			return -1;
		}
		len += n;
		line[len] = 0;
		if (memchr(line, '\n', len) || len == size - 1) {
			line[strcspn(line, "\n")] = 0;
			return 0;
		}
	}
}

/* As the page writes sizes: 12 KiB, 1.5 MiB, 293 KiB. */
static void human(char *out, size_t size, long long bytes)
{
	const char *unit = bytes < 1048576 ? "KiB" : "MiB";
	double v = bytes / (bytes < 1048576 ? 1024.0 : 1048576.0);

	if (bytes < 1024)
		snprintf(out, size, "%lld bytes", bytes);
	else if (v >= 100 || v == (long long)v)
		snprintf(out, size, "%.0f %s", v, unit);
	else
		snprintf(out, size, "%.1f %s", v, unit);
}

static int download_command(int argc, char **argv)
{
	char request[PIPE_BUF], line[MAX_CONTROL + 64];
	int failed = 0, reply, req;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(stderr,
			"usage: download FILE...\n"
			"Saves each FILE on the computer, as a download of the page "
			"(to upload, drop files on the terminal).\n");
		return argc < 2 ? 2 : 0;
	}
	req = open(REQUESTS, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (req < 0) {
		if (errno == ENXIO || errno == ENOENT)
			fprintf(stderr, "download: the file helper (" HELPER
				") is not running\n");
		else
			fprintf(stderr, "download: %s: %s\n", REQUESTS, strerror(errno));
		return 1;
	}
	snprintf(reply_path, sizeof(reply_path), RUN_DIR "/reply-%d", (int)getpid());
	unlink(reply_path);
	if (mkfifo(reply_path, 0600) < 0 ||
	    (reply = open(reply_path, O_RDWR | O_CLOEXEC)) < 0) {
		fprintf(stderr, "download: %s: %s\n", reply_path, strerror(errno));
		return 1;
	}
	signal(SIGINT, remove_reply);
	signal(SIGTERM, remove_reply);
	signal(SIGHUP, remove_reply);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *file = argv[i];
		char abs[PATH_MAX], size_text[32];
		struct stat st;
		int len;

		if (stat(file, &st) < 0) {
			fprintf(stderr, "download: %s: %s\n", file, strerror(errno));
			failed = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "download: %s: is a directory (download the files in it, "
				"or a tar of it)\n", file);
			failed = 1;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "download: %s: not a regular file\n", file);
			failed = 1;
			continue;
		}
		if (!realpath(file, abs)) {
			fprintf(stderr, "download: %s: %s\n", file, strerror(errno));
			failed = 1;
			continue;
		}
		len = snprintf(request, sizeof(request), "%s%c%s%c", reply_path, 0, abs, 0);
		if (len < 0 || len >= (int)sizeof(request)) {
			fprintf(stderr, "download: %s: the path is too long\n", file);
			failed = 1;
			continue;
		}
		if (write_all(req, request, len) < 0) {
			fprintf(stderr, "download: asking the file helper: %s\n",
				strerror(errno));
			failed = 1;
			break;
		}
		if (read_answer(reply, line, sizeof(line)) < 0 || strcmp(line, "ok")) {
			fprintf(stderr, "download: %s: %s\n", file,
				!strncmp(line, "error ", 6) ? line + 6 : line);
			failed = 1;
			if (!helper_running())
				break;
			continue;
		}
		human(size_text, sizeof(size_text), st.st_size);
		printf("download: %s: sent to the browser (%s)\n", file, size_text);
		fflush(stdout);
	}
	remove_reply(0);
	return failed;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');

	name = name ? name + 1 : argv[0];
	if (!strcmp(name, "download"))
		return download_command(argc, argv);
	if (argc > 1) {
		fprintf(stderr, "usage: " HELPER " (run by init; see download)\n");
		return 2;
	}
	helper();
	return 0;
}
