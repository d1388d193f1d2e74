/* malloc-lab bench: the floor under any 10 ms sampler on this machine. Wakes on an absolute
 * 10 ms grid (clock_nanosleep, TIMER_ABSTIME: the agent's sampler keeps the same grid) for `ticks`
 * ticks and, per the mode's bits, re-reads with one pread each file the agent's tick reads every
 * tick: 1 = /proc/PID/stat, 2 = /proc/meminfo. Prints this thread's CPU per tick in nanoseconds.
 * Usage: wake_floor PID MODE TICKS */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buf[16384];

static long long ns(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: wake_floor PID MODE TICKS\n");
        return 2;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/stat", argv[1]);
    int mode = atoi(argv[2]), ticks = atoi(argv[3]);
    int stat_fd = open(path, O_RDONLY), meminfo_fd = open("/proc/meminfo", O_RDONLY);
    if (stat_fd < 0 || meminfo_fd < 0 || ticks <= 0) {
        perror("wake_floor");
        return 1;
    }
    struct timespec deadline, cpu0, cpu1;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
    for (int k = 0; k < ticks; k++) {
        deadline.tv_nsec += 10000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_nsec -= 1000000000L;
            deadline.tv_sec += 1;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
        if ((mode & 1) && pread(stat_fd, buf, sizeof buf, 0) < 0) return 1;
        if ((mode & 2) && pread(meminfo_fd, buf, sizeof buf, 0) < 0) return 1;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
    printf("%lld\n", (ns(&cpu1) - ns(&cpu0)) / ticks);
    return 0;
}
