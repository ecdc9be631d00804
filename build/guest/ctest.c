/*
 * alpenglow-ctest: checks the parts of the C runtime that need the kernel's
 * and the host's help on wasm -- setjmp/longjmp, threads, signal handlers,
 * vfork and exec -- and prints one PASS or FAIL line per check and a
 * summary. The exit status is the number of failures. Run as init (pid 1)
 * it powers the machine off at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what, const char *detail)
{
	if (ok)
		passed++;
	else
		failed++;
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", what,
	       detail && *detail ? " -- " : "", detail ? detail : "");
}

static int blocked(int sig)
{
	sigset_t cur;

	sigprocmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, sig);
}

/* ---- setjmp/longjmp ---- */

static jmp_buf jb;

static void __attribute__((noinline)) jump_back(int v)
{
	longjmp(jb, v);
}

static void test_setjmp(void)
{
	volatile int steps = 0;
	int r = setjmp(jb);
	char d[64];

	steps++;
	if (r == 0)
		jump_back(42);
	snprintf(d, sizeof d, "setjmp returned %d, %d times", r, steps);
	check(r == 42 && steps == 2, "setjmp/longjmp", d);

	r = setjmp(jb);
	if (r == 0)
		jump_back(0);
	check(r == 1, "longjmp(jb, 0) makes setjmp return 1", NULL);
}

/* ---- threads ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int counter, ready;
static _Thread_local int tls_value = 5;

static void *worker(void *arg)
{
	int n = (int)(long)arg;

	tls_value += n;		/* this thread's copy only */
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	ready = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return (void *)(long)(n * 2 + tls_value);
}

static void test_threads(void)
{
	pthread_t t;
	void *ret = NULL;
	char d[96];
	int e;

	e = pthread_create(&t, NULL, worker, (void *)21L);
	if (e) {
		snprintf(d, sizeof d, "pthread_create: %s", strerror(e));
		check(0, "pthread create/join", d);
		return;
	}
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	while (!ready)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	e = pthread_join(t, &ret);
	snprintf(d, sizeof d, "join %d, value %ld, counter %d, main's TLS %d",
		 e, (long)ret, counter, tls_value);
	check(!e && (long)ret == 21 * 2 + 26 && counter == 2000 &&
	      tls_value == 5, "pthread create, mutex, cond, join, value back", d);
}

/* ---- signal handlers ---- */

static volatile sig_atomic_t got_sig, got_code, got_pid, mask_in_handler,
	uc_mask_has_sig, handler_calls;

static void info_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	handler_calls++;
	got_sig = si->si_signo;
	got_code = si->si_code;
	got_pid = si->si_pid;
	mask_in_handler = blocked(sig);	/* a nested system call */
	uc_mask_has_sig = sigismember(&uc->uc_sigmask, sig);
}

static void test_siginfo(void)
{
	struct sigaction sa = { .sa_sigaction = info_handler,
				.sa_flags = SA_SIGINFO };
	char d[128];

	sigaction(SIGUSR1, &sa, NULL);
	got_sig = got_code = got_pid = 0;
	kill(getpid(), SIGUSR1);
	snprintf(d, sizeof d, "si_signo %d si_code %d si_pid %d (pid %d)",
		 got_sig, got_code, got_pid, getpid());
	check(got_sig == SIGUSR1 && got_code == SI_USER &&
	      got_pid == getpid(), "SA_SIGINFO handler, kill()", d);
	check(mask_in_handler && !uc_mask_has_sig && !blocked(SIGUSR1),
	      "signal blocked in its handler, mask restored after", NULL);

	got_sig = got_code = 0;
	raise(SIGUSR1);
	snprintf(d, sizeof d, "si_signo %d si_code %d", got_sig, got_code);
	check(got_sig == SIGUSR1 && got_code == SI_TKILL,
	      "SA_SIGINFO handler, raise()", d);

	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESETHAND;
	sigaction(SIGUSR2, &sa, NULL);
	handler_calls = 0;
	raise(SIGUSR2);
	sigaction(SIGUSR2, NULL, &sa);
	check(handler_calls == 1 && !mask_in_handler &&
	      sa.sa_handler == SIG_DFL, "SA_NODEFER and SA_RESETHAND", NULL);

	/* A plain handler, and a signal blocked until it is unblocked. */
	sa.sa_sigaction = info_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	handler_calls = 0;
	raise(SIGUSR1);
	int before = handler_calls;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	check(before == 0 && handler_calls == 1,
	      "a blocked signal is delivered when unblocked", NULL);
}

static sigjmp_buf sjb;

static void jump_handler(int sig)
{
	siglongjmp(sjb, sig);
}

static void test_siglongjmp(void)
{
	struct sigaction sa = { .sa_handler = jump_handler };
	volatile int i, bad = 0;
	char d[96];

	sigaction(SIGUSR1, &sa, NULL);
	/* Many times: the kernel stack must be put right on every unwind. */
	for (i = 0; i < 2000; i++) {
		int r = sigsetjmp(sjb, 1);

		if (r == 0) {
			raise(SIGUSR1);
			bad++;		/* the handler did not jump */
			break;
		}
		if (r != SIGUSR1 || blocked(SIGUSR1)) {
			bad++;
			break;
		}
	}
	snprintf(d, sizeof d, "%d round trips, %d bad", i, bad);
	check(i == 2000 && !bad, "siglongjmp out of a handler restores the mask", d);

	/* longjmp without a saved mask leaves the handler's mask in place. */
	int r = sigsetjmp(sjb, 0);
	if (r == 0)
		raise(SIGUSR1);
	check(r == SIGUSR1 && blocked(SIGUSR1),
	      "longjmp out of a handler keeps the handler's mask", NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	check(getpid() > 0, "system calls work after the unwinds", NULL);
}

static int pipefd[2];

static void alarm_handler(int sig)
{
	char c = 'x';

	/* The read that the signal interrupted finds this after a restart. */
	write(pipefd[1], &c, 1);
}

static void interrupted_read(int flags, ssize_t *n, int *err)
{
	struct sigaction sa = { .sa_handler = alarm_handler, .sa_flags = flags };
	struct itimerval it = { .it_value = { .tv_usec = 50000 } };
	char c;

	pipe(pipefd);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	errno = 0;
	*n = read(pipefd[0], &c, 1);
	*err = errno;
	close(pipefd[0]);
	close(pipefd[1]);
}

static void test_restart(void)
{
	ssize_t n;
	int err;
	char d[64];

	interrupted_read(0, &n, &err);
	snprintf(d, sizeof d, "read returned %zd, errno %d", n, err);
	check(n == -1 && err == EINTR, "without SA_RESTART: EINTR", d);
	interrupted_read(SA_RESTART, &n, &err);
	snprintf(d, sizeof d, "read returned %zd, errno %d", n, err);
	check(n == 1, "with SA_RESTART: the call is restarted", d);
}

/* ---- vfork and exec ---- */

static int run(const char *path, char *const argv[])
{
	int status = -1;
	pid_t pid = vfork();

	if (pid == 0) {
		execv(path, argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static void test_vfork(void)
{
	char d[64];
	int st;

	st = run("/bin/busybox", (char *[]){ "true", NULL });
	snprintf(d, sizeof d, "status %#x", st);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "vfork + exec busybox true", d);
	st = run("/bin/busybox", (char *[]){ "false", NULL });
	snprintf(d, sizeof d, "status %#x", st);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1,
	      "vfork + exec busybox false: exit status 1", d);
	st = run("/bin/echo", (char *[]){ "echo", "ctest: hello from echo", NULL });
	snprintf(d, sizeof d, "status %#x", st);
	check(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "vfork + exec /bin/echo", d);

	pid_t pid = vfork();
	if (pid == 0)
		_exit(3);
	st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	snprintf(d, sizeof d, "status %#x", st);
	check(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3,
	      "vfork + _exit(3)", d);
}

static void *send_later(void *fd)
{
	usleep(200 * 1000);
	send(*(int *)fd, "wakes", 5, 0);
	return NULL;
}

/* AF_UNIX datagrams, as syslog() sends them to syslogd: a connected pair,
 * and a socket bound to a path that a second socket connects and sends to. */
static void test_unix_dgram(void)
{
	char d[160], buf[96];
	int sv[2];
	ssize_t n = -1;

	errno = 0;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0) {
		if (send(sv[0], "pair", 4, 0) == 4)
			n = recv(sv[1], buf, sizeof buf, 0);
		close(sv[0]);
		close(sv[1]);
	}
	snprintf(d, sizeof d, "got %zd, errno %d", n, errno);
	check(n == 4 && !memcmp(buf, "pair", 4), "AF_UNIX socketpair datagram", d);

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, "/tmp/ctest.sock");
	unlink(addr.sun_path);
	int srv = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int cli = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	const char *step = "socket";
	n = -1;
	errno = 0;
	if (srv >= 0 && cli >= 0) {
		step = "bind";
		if (bind(srv, (struct sockaddr *)&addr, sizeof addr) == 0) {
			step = "connect";
			if (connect(cli, (struct sockaddr *)&addr, sizeof addr) == 0) {
				step = "send";
				if (send(cli, "path", 4, 0) == 4) {
					step = "recv";
					n = recv(srv, buf, sizeof buf, 0);
				}
			}
		}
	}
	snprintf(d, sizeof d, "%s: got %zd, errno %d", step, n, errno);
	check(n == 4 && !memcmp(buf, "path", 4), "AF_UNIX datagram to a bound path", d);

	/* The receiver already waits in recv() when the datagram comes (syslogd). */
	pthread_t sender;
	n = -1;
	/* syslogd reads with read() from its socket moved to fd 0. */
	int saved_stdin = dup(0);
	if (dup2(srv, 0) == 0 && pthread_create(&sender, NULL, send_later, &cli) == 0) {
		n = read(0, buf, sizeof buf - 1);
		pthread_join(sender, NULL);
	}
	dup2(saved_stdin, 0);
	close(saved_stdin);
	buf[n > 0 ? n : 0] = 0;
	snprintf(d, sizeof d, "got %zd: %s", n, buf);
	check(n == 5 && !strcmp(buf, "wakes"), "AF_UNIX datagram to a waiting receiver", d);
	close(srv);
	close(cli);
	unlink(addr.sun_path);

	/* syslog() itself, to a /dev/log of our own (when no syslogd has one). */
	strcpy(addr.sun_path, "/dev/log");
	srv = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (access("/dev/log", F_OK) == 0 || srv < 0 ||
	    bind(srv, (struct sockaddr *)&addr, sizeof addr) != 0) {
		close(srv);
		return;
	}
	openlog("ctest", LOG_NDELAY, LOG_USER);
	errno = 0;
	syslog(LOG_NOTICE, "syslog-%d", 6 * 7);
	int err = errno;
	closelog();
	usleep(100 * 1000);
	n = recv(srv, buf, sizeof buf - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	snprintf(d, sizeof d, "got %zd (errno %d): %s", n, err, buf);
	check(n > 0 && strstr(buf, "ctest: syslog-42"), "syslog() to /dev/log", d);

	/* From another process, while this one waits in read() (logger and syslogd). */
	pid_t pid = vfork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "sleep 1; logger -t ctest from-logger", (char *)NULL);
		_exit(127);
	}
	n = -1;
	if (pid > 0) {
		n = read(srv, buf, sizeof buf - 1);
		waitpid(pid, NULL, 0);
	}
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	snprintf(d, sizeof d, "got %zd: %s", n, buf);
	check(n > 0 && strstr(buf, "ctest: from-logger"), "logger to a waiting receiver", d);
	close(srv);
	unlink("/dev/log");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ctest: start (pid %d)\n", getpid());
	test_setjmp();
	test_siginfo();
	test_siglongjmp();
	test_restart();
	test_vfork();
	test_threads();
	test_unix_dgram();
	printf("ctest: %d passed, %d failed\n", passed, failed);
	if (getpid() == 1) {
		sync();
		reboot(RB_POWER_OFF);
	}
	return failed;
}
