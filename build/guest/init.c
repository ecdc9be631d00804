/*
 * The boot check's /init: proves that a user program runs under the kernel.
 * It mounts /proc and lists the processes there, sleeps one second with
 * nanosleep and checks that the monotonic clock advanced, runs the C runtime
 * checks (/usr/bin/alpenglow-ctest, build/guest/ctest.c) when the image has
 * them, then powers the machine off. Every line goes out through write(2) on the console.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = write(1, s, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += n;
		len -= n;
	}
}

static void list_processes(void)
{
	char line[160], path[64], comm[64];
	struct dirent *d;
	DIR *proc = opendir("/proc");
	int count = 0;

	if (!proc) {
		snprintf(line, sizeof(line), "init: cannot open /proc: %s\n", strerror(errno));
		say(line);
		return;
	}
	while ((d = readdir(proc))) {
		ssize_t n;
		int fd;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (n <= 0)
			continue;
		comm[n] = 0;
		comm[strcspn(comm, "\n")] = 0;
		snprintf(line, sizeof(line), "init: pid %s %s\n", d->d_name, comm);
		say(line);
		count++;
	}
	closedir(proc);
	snprintf(line, sizeof(line), "init: %d processes in /proc\n", count);
	say(line);
}

/* vfork + exec of the C runtime checks; they print their own lines. */
static void run_ctest(void)
{
	static char *const argv[] = { "alpenglow-ctest", NULL };
	const char *path = "/usr/bin/alpenglow-ctest";
	char line[128];
	int status;
	pid_t pid;

	if (access(path, X_OK))
		return;
	pid = vfork();
	if (pid == 0) {
		execv(path, argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		snprintf(line, sizeof(line), "init: cannot run %s: %s\n", path, strerror(errno));
	} else if (WIFEXITED(status)) {
		snprintf(line, sizeof(line), "init: alpenglow-ctest exited with %d\n",
			 WEXITSTATUS(status));
	} else {
		snprintf(line, sizeof(line), "init: alpenglow-ctest ended by signal %d\n",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	}
	say(line);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void)
{
	struct timespec one_second = { .tv_sec = 1 };
	char line[128];
	long long before, after;

	say("init: hello from /init, a wasm program under Linux\n");
	if (mount("proc", "/proc", "proc", 0, NULL) && errno != EBUSY) {
		snprintf(line, sizeof(line), "init: mount /proc: %s\n", strerror(errno));
		say(line);
	}
	list_processes();

	before = now_ns();
	while (nanosleep(&one_second, &one_second) && errno == EINTR)
		;
	after = now_ns();
	snprintf(line, sizeof(line), "init: slept, monotonic clock advanced %lld ms (%s)\n",
		 (after - before) / 1000000, after - before >= 1000000000LL ? "ok" : "TOO SHORT");
	say(line);

	run_ctest();

	say("init: powering off\n");
	sync();
	reboot(RB_POWER_OFF);
	say("init: reboot(RB_POWER_OFF) returned\n");
	return 1;
}
