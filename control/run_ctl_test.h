/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For unit tests that run the built shardctl (its path in $SHARDCTL, set by meson): one run's
 * exit status and output. Include after core/test_common.h.
 */
#ifndef SL_CONTROL_RUN_CTL_TEST_H
#define SL_CONTROL_RUN_CTL_TEST_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct run {
	int status;
	char out[65536];
	char err[8192];
};

static void run_ctl_slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Runs $SHARDCTL with the arguments in ap (NULL-terminated) and no SHARDLINE_ADMIN in its
 * environment, its stdout and stderr captured through files in dir. */
static void run_ctl_in(struct run *r, const char *dir, va_list ap)
{
	const char *exe = getenv("SHARDCTL");
	char *argv[32];
	int argc = 0;
	argv[argc++] = (char *)exe;
	for (char *s; (s = va_arg(ap, char *)) != NULL;) {
		assert_true(argc < 31);
		argv[argc++] = s;
	}
	argv[argc] = NULL;
	char out[512], errp[512];
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(errp, sizeof(errp), "%s/err", dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(o, 1);
		dup2(e, 2);
		unsetenv("SHARDLINE_ADMIN");
		execv(exe, argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	r->status = WEXITSTATUS(st);
	run_ctl_slurp(out, r->out, sizeof(r->out));
	run_ctl_slurp(errp, r->err, sizeof(r->err));
}

#endif
