/*
 * alpenglow-bench: the workloads of `cargo x bench` (build/src/bench/) that need a
 * program of their own. The same source is built for the guest (wasm32, our musl) and
 * natively (host clang, -O2), so the two runs execute the same code.
 *
 * Every result is one line "@@<tag> <name> key=value ...", ended by "@@<tag> end", so
 * the driver can find it in a terminal full of other text; the echoed command line
 * never starts with "@@". Times come from CLOCK_MONOTONIC, taken inside the program.
 *
 *   alpenglow-bench [-t TAG] cpu [SCALE]         integer hash, memcpy, qsort, sha256
 *   alpenglow-bench [-t TAG] syscall N           N x getppid()
 *   alpenglow-bench [-t TAG] spawn N PROG [NAME] N x vfork + execv(PROG) + waitpid
 *                                                (PROG "-": the child _exits, no exec);
 *                                                with NAME, the first apart (NAME-first)
 *   alpenglow-bench [-t TAG] pipe N              N round trips of one byte, 2 processes
 *   alpenglow-bench [-t TAG] slice N             N x 1 ms sleeps while a child computes:
 *                                                how late each wakes (time-slice latency)
 *   alpenglow-bench [-t TAG] parallel            two hash loops at once, against one
 *   alpenglow-bench [-t TAG] file DIR MIB        write, then read, DIR/bench.dat
 *   alpenglow-bench [-t TAG] run NAME CMD...     wall time of CMD (vfork + execvp)
 *   alpenglow-bench [-t TAG] ceiling N PROG      live children: vfork + execl(PROG, "600")
 *                                                until N run or one fails; then kills them
 *   alpenglow-bench [-t TAG] procmem PID         VmRSS/VmSize... of /proc/PID/status
 *   alpenglow-bench [-t TAG] meminfo             /proc/meminfo totals
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *tag = "";
static const char *self;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void result(const char *fmt, ...)
{
	va_list ap;

	printf("@@%s ", tag);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	result("error %s: %s", what, strerror(errno));
	exit(1);
}

static long arg_num(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0) {
		errno = EINVAL;
		die(what);
	}
	return v;
}

/* ---- compute ---- */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint32_t k_hash(long n)
{
	uint32_t h = 2166136261u;
	uint64_t s = 88172645463325252ull;

	for (long i = 0; i < n; i++) {
		h ^= (uint32_t)xorshift(&s);
		h *= 16777619u;
		h = (h << 5) | (h >> 27);
	}
	return h;
}

static uint32_t k_memcpy(long rounds)
{
	const size_t size = 4 << 20;
	unsigned char *a = malloc(size), *b = malloc(size);
	uint32_t sum = 0;

	if (!a || !b)
		die("malloc");
	for (size_t i = 0; i < size; i++)
		a[i] = (unsigned char)(i * 7);
	for (long r = 0; r < rounds; r++) {
		memcpy(b, a, size);
		b[r % size] ^= 1;
		memcpy(a, b, size);
		sum += a[(r * 4099) % size];
	}
	free(a);
	free(b);
	return sum;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return (a > b) - (a < b);
}

static uint32_t k_qsort(long n)
{
	uint32_t *v = malloc(n * sizeof(*v));
	uint64_t s = 0x9e3779b97f4a7c15ull;
	uint32_t sum = 0;

	if (!v)
		die("malloc");
	for (long i = 0; i < n; i++)
		v[i] = (uint32_t)xorshift(&s);
	qsort(v, n, sizeof(*v), cmp_u32);
	for (long i = 1; i < n; i++)
		if (v[i - 1] > v[i])
			die("qsort order");
	sum = v[0] ^ v[n / 2] ^ v[n - 1];
	free(v);
	return sum;
}

/* SHA-256 (FIPS 180-4), written for this benchmark. */
static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t st[8], const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = st[0]; b = st[1]; c = st[2]; d = st[3];
	e = st[4]; f = st[5]; g = st[6]; h = st[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
			      K256[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	st[0] += a; st[1] += b; st[2] += c; st[3] += d;
	st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

/* Hashes `len` bytes (a multiple of 64; the padding block is not needed to measure). */
static uint32_t k_sha256(long mib)
{
	size_t len = (size_t)mib << 20;
	unsigned char *buf = malloc(len);
	uint32_t st[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	if (!buf)
		die("malloc");
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i ^ (i >> 8));
	for (size_t off = 0; off < len; off += 64)
		sha256_block(st, buf + off);
	free(buf);
	return st[0];
}

static int cmd_cpu(long scale)
{
	uint64_t t0;
	uint32_t sum;

#define KERNEL(name, call, what)                                                      \
	do {                                                                         \
		t0 = now_ns();                                                       \
		sum = call;                                                          \
		result("cpu-" name " ms=%.3f work=%s check=%08x",                    \
		       (now_ns() - t0) / 1e6, what, sum);                            \
	} while (0)
	char what[64];

	snprintf(what, sizeof(what), "%ldM-steps", 20 * scale);
	KERNEL("hash", k_hash(20000000L * scale), what);
	snprintf(what, sizeof(what), "%ldMiB", 8 * 32 * scale);
	KERNEL("memcpy", k_memcpy(32 * scale), what);
	snprintf(what, sizeof(what), "%ldk-ints", 500 * scale);
	KERNEL("qsort", k_qsort(500000L * scale), what);
	snprintf(what, sizeof(what), "%ldMiB", 16 * scale);
	KERNEL("sha256", k_sha256(16 * scale), what);
#undef KERNEL
	return 0;
}

/* ---- system ---- */

static int cmd_syscall(long n)
{
	uint64_t t0 = now_ns();
	long acc = 0;

	for (long i = 0; i < n; i++)
		acc += syscall(SYS_getppid);
	result("syscall ns=%.1f n=%ld check=%ld", (double)(now_ns() - t0) / n, n, acc / n);
	return 0;
}

/* One vfork + exec of prog (or _exit, for "-") + wait. */
static void spawn_one(const char *prog)
{
	int status;
	pid_t pid = vfork();

	if (pid == 0) {
		if (strcmp(prog, "-") == 0)
			_exit(0);
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		die("vfork");
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = ENOEXEC;
		die(prog);
	}
}

/*
 * n spawns, each timed on average. With a name, the first is reported apart as
 * name-first: it is the one that may compile the program.
 */
static int cmd_spawn(long n, const char *prog, const char *name)
{
	uint64_t t0 = now_ns();

	if (name) {
		spawn_one(prog);
		result("%s-first us=%.1f", name, (double)(now_ns() - t0) / 1e3);
		n--;
		t0 = now_ns();
	}
	for (long i = 0; i < n; i++)
		spawn_one(prog);
	if (!name)
		name = strcmp(prog, "-") ? "spawn" : "vfork-exit";
	if (n > 0)
		result("%s us=%.1f n=%ld", name, (double)(now_ns() - t0) / n / 1e3, n);
	return 0;
}

/* A loop without a system call: only preemption takes the CPU from it. */
static int cmd_spin(void)
{
	volatile uint64_t x = 0;

	for (;;)
		x++;
}

/*
 * How long a task waits for the CPU while another computes: a child spins, and this
 * process sleeps 1 ms N times; how late each sleep ends is what a typed key waits for
 * the shell while a loop runs. Natively both run on one CPU, as in the guest.
 */
static int cmd_slice(long n)
{
	struct timespec ms = { 0, 1000000 };
	uint64_t total = 0, most = 0;
	pid_t pid;

#ifndef __wasm__
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		die("sched_setaffinity");
#endif
	pid = vfork();
	if (pid == 0) {
		execlp(self, self, "spin", (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		die("vfork");
	/* Let the loop start. */
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), late;

		nanosleep(&ms, NULL);
		late = now_ns() - t0 - 1000000;
		total += late;
		if (late > most)
			most = late;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	result("slice us=%.1f max_us=%.1f n=%ld", (double)total / n / 1e3, (double)most / 1e3, n);
	return 0;
}

/* One hash kernel (the `cpu` hash loop at SCALE 1), for `parallel`'s children. */
static int cmd_hash(void)
{
	volatile uint32_t sum = k_hash(20000000L);

	(void)sum;
	return 0;
}

/* Starts `n` children that each run the hash kernel; returns when all have ended. */
static double run_hashes(int n)
{
	uint64_t t0 = now_ns();
	pid_t pids[2];

	for (int i = 0; i < n; i++) {
		pids[i] = vfork();
		if (pids[i] == 0) {
			execlp(self, self, "hash", (char *)NULL);
			_exit(127);
		}
		if (pids[i] < 0)
			die("vfork");
	}
	for (int i = 0; i < n; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			errno = ENOEXEC;
			die("hash child");
		}
	}
	return (now_ns() - t0) / 1e6;
}

/*
 * Two compute processes at once against one: with two CPUs they take about as long as
 * one (ratio 1), with one CPU twice as long (ratio 2).
 */
static int cmd_parallel(void)
{
	double one = run_hashes(1), two = run_hashes(2);

	result("parallel-1 ms=%.3f", one);
	result("parallel-2 ms=%.3f ratio=%.2f", two, two / one);
	return 0;
}

/*
 * How many processes can live at once: children that sleep (PROG 600) are started until
 * N run, a vfork fails (EAGAIN past the machine's ceiling) or an exec does (the child
 * reports it through the memory it shares with us until then). All are killed after.
 */
static int cmd_ceiling(long n, const char *prog)
{
	pid_t *pids = calloc(n, sizeof(*pids));
	volatile int exec_errno = 0;
	int stop = 0;
	long live = 0;

	if (!pids)
		die("calloc");
	while (live < n) {
		pid_t pid = vfork();

		if (pid == 0) {
			execl(prog, prog, "600", (char *)NULL);
			exec_errno = errno;
			_exit(127);
		}
		if (pid < 0) {
			stop = errno;
			break;
		}
		if (exec_errno) {
			stop = exec_errno;
			waitpid(pid, NULL, 0);
			break;
		}
		pids[live++] = pid;
	}
	for (long i = 0; i < live; i++)
		kill(pids[i], SIGKILL);
	for (long i = 0; i < live; i++)
		waitpid(pids[i], NULL, 0);
	free(pids);
	result("ceiling count=%ld of=%ld stop=%s", live, n,
	       stop == 0 ? "none" : stop == EAGAIN ? "EAGAIN" :
	       stop == ENOMEM ? "ENOMEM" : "other");
	return 0;
}

static void full_read(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EPIPE;
			die("read");
		}
		p = (char *)p + r;
		n -= r;
	}
}

static void full_write(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("write");
		p = (const char *)p + r;
		n -= r;
	}
}

/* The other end of `pipe`: echo every byte back until end of file. */
static int cmd_pipe_child(int rfd, int wfd)
{
	char c;

	for (;;) {
		ssize_t r = read(rfd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		full_write(wfd, &c, 1);
	}
}

/* Ping-pong through two pipes; the child is this program again (vfork + exec: NOMMU). */
static int cmd_pipe(long n)
{
	int to[2], from[2], status;
	char rfd[16], wfd[16], c = 'x';
	pid_t pid;
	uint64_t t0;

	if (pipe(to) || pipe(from))
		die("pipe");
	snprintf(rfd, sizeof(rfd), "%d", to[0]);
	snprintf(wfd, sizeof(wfd), "%d", from[1]);
	pid = vfork();
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		execlp(self, self, "pipe-child", rfd, wfd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		die("vfork");
	close(to[0]);
	close(from[1]);
	/* One warm-up round trip: the child has started and both sides are running. */
	full_write(to[1], &c, 1);
	full_read(from[0], &c, 1);
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		full_write(to[1], &c, 1);
		full_read(from[0], &c, 1);
	}
	result("pipe us=%.2f n=%ld", (double)(now_ns() - t0) / n / 1e3, n);
	close(to[1]);
	close(from[0]);
	waitpid(pid, &status, 0);
	return 0;
}

static int cmd_file(const char *dir, long mib)
{
	const size_t chunk = 64 << 10;
	char path[512];
	unsigned char *buf = malloc(chunk);
	long chunks = mib * 16;
	uint64_t t0, tw, tr;
	int fd;

	if (!buf)
		die("malloc");
	for (size_t i = 0; i < chunk; i++)
		buf[i] = (unsigned char)(i * 13);
	snprintf(path, sizeof(path), "%s/alpenglow-bench.%d", dir, (int)getpid());
	t0 = now_ns();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path);
	for (long i = 0; i < chunks; i++)
		full_write(fd, buf, chunk);
	if (close(fd))
		die("close");
	tw = now_ns() - t0;
	t0 = now_ns();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	for (long i = 0; i < chunks; i++)
		full_read(fd, buf, chunk);
	close(fd);
	tr = now_ns() - t0;
	unlink(path);
	free(buf);
	result("file-write ms=%.3f mib=%ld", tw / 1e6, mib);
	result("file-read ms=%.3f mib=%ld", tr / 1e6, mib);
	return 0;
}

static int cmd_run(const char *name, char **argv)
{
	uint64_t t0 = now_ns();
	int status;
	pid_t pid = vfork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		die("vfork");
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	result("run-%s ms=%.3f status=%d", name, (now_ns() - t0) / 1e6,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

/*
 * Prints the "Key: value kB" lines of `path` named in `keys`, as key=value in KiB.
 * A NOMMU kernel's status has "Mem:", "Slack:", "Shared:" in bytes instead of Vm*.
 */
static int print_kb(const char *name, const char *path, const char *const keys[])
{
	char line[256], out[1024];
	size_t used = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		die(path);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		for (int i = 0; keys[i]; i++) {
			size_t len = strlen(keys[i]);
			char unit[16] = "";
			long long v;

			if (strncmp(line, keys[i], len) || line[len] != ':')
				continue;
			if (sscanf(line + len + 1, "%lld %15s", &v, unit) < 1 ||
			    used >= sizeof(out) - 64)
				continue;
			if (!strcmp(unit, "bytes"))
				v = (v + 1023) / 1024;
			used += snprintf(out + used, sizeof(out) - used, " %s=%lld", keys[i], v);
		}
	}
	fclose(f);
	result("%s%s", name, out);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const status_keys[] = { "VmPeak", "VmSize", "VmRSS", "VmData",
						   "VmStk", "VmExe", "Mem", "Slack",
						   "Shared", NULL };
	static const char *const meminfo_keys[] = { "MemTotal", "MemFree", "MemAvailable",
						    "Buffers", "Cached", "Shmem", "Slab",
						    "KernelStack", NULL };
	int rc = 2;

	self = argv[0];
	if (argc > 2 && !strcmp(argv[1], "-t")) {
		tag = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2)
		goto usage;
	if (!strcmp(argv[1], "pipe-child") && argc == 4)
		return cmd_pipe_child(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(argv[1], "spin") && argc == 2)
		return cmd_spin();
	if (!strcmp(argv[1], "hash") && argc == 2)
		return cmd_hash();
	if (!strcmp(argv[1], "cpu") && argc <= 3)
		rc = cmd_cpu(argc == 3 ? arg_num(argv[2], "scale") : 1);
	else if (!strcmp(argv[1], "syscall") && argc == 3)
		rc = cmd_syscall(arg_num(argv[2], "count"));
	else if (!strcmp(argv[1], "spawn") && (argc == 4 || argc == 5))
		rc = cmd_spawn(arg_num(argv[2], "count"), argv[3], argc == 5 ? argv[4] : NULL);
	else if (!strcmp(argv[1], "pipe") && argc == 3)
		rc = cmd_pipe(arg_num(argv[2], "count"));
	else if (!strcmp(argv[1], "parallel") && argc == 2)
		rc = cmd_parallel();
	else if (!strcmp(argv[1], "slice") && argc == 3)
		rc = cmd_slice(arg_num(argv[2], "count"));
	else if (!strcmp(argv[1], "file") && argc == 4)
		rc = cmd_file(argv[2], arg_num(argv[3], "size"));
	else if (!strcmp(argv[1], "ceiling") && argc == 4)
		rc = cmd_ceiling(arg_num(argv[2], "count"), argv[3]);
	else if (!strcmp(argv[1], "run") && argc >= 4)
		rc = cmd_run(argv[2], argv + 3);
	else if (!strcmp(argv[1], "procmem") && argc == 3) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%ld/status", arg_num(argv[2], "pid"));
		rc = print_kb("procmem", path, status_keys);
	} else if (!strcmp(argv[1], "meminfo") && argc == 2)
		rc = print_kb("meminfo", "/proc/meminfo", meminfo_keys);
	else
		goto usage;
	result("end");
	return rc;
usage:
	fprintf(stderr, "usage: %s [-t TAG] cpu [SCALE] | syscall N | spawn N PROG [NAME] |\n"
			"       pipe N | slice N | parallel |\n"
			"       file DIR MIB | ceiling N PROG | run NAME CMD... | procmem PID |\n"
			"       meminfo\n",
		self);
	return 2;
}
