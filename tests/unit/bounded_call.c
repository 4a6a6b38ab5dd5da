/*
 * bounded_call.c: a call in a child process, killed at a deadline.
 */
#include "bounded_call.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int bounded_call(void (*fn)(void *arg, struct bounded_result *out), void *arg, unsigned seconds,
                 struct bounded_result *out)
{
    /* Shared with the child: it writes its result here before it exits. */
    struct bounded_result *shared =
        mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid;
    int status;

    if (shared == MAP_FAILED)
        return -errno;
    memset(shared, 0, sizeof(*shared));
    pid = fork();
    if (pid < 0) {
        munmap(shared, sizeof(*shared));
        return -errno;
    }
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(seconds);
        fn(arg, shared);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    memcpy(out, shared, sizeof(*out));
    munmap(shared, sizeof(*shared));
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        return -ETIMEDOUT;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -ECHILD;
    return 0;
}
