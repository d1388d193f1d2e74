/*
 * allocate.c - malloc-lab's workload, after the original lab note's program.
 *
 * Prints the addresses of a 10-int array on the stack, allocates SIZE bytes,
 * then writes STEP bytes at a time and prints "<date>: touched NMB" per step.
 * Output reads like the original; sizes are parameters, not constants.
 *
 * Its sizes and variant are arguments with no defaults of its own: the agent states the lab's
 * defaults once (labagent/knobs.py, labagent/variants.py) and always passes them. By hand:
 *
 *   ./allocate -s 104857600 -t 10485760 -v malloc
 *
 * Run by hand, it paces itself with sleep(). Run by the lab agent with
 * --control-fd N, it announces each phase boundary on fd N and waits for a
 * command line on stdin before going on, so the agent snapshots the process at
 * the exact boundary instead of after a guessed sleep:
 *
 *   agent -> stdin        program -> control fd
 *                         "baseline"
 *   "alloc"               "allocated <pointer-hex> <size>"
 *   "touch" (per step)    "step <index> <bytes-touched-so-far>"
 *                         "touched"
 *   "free"   (variant free only)  "freed"
 *   "exit"                (process exits 0)
 *
 * Variants (-v) are declared in labagent/variants.py; each has its branch below.
 * fullspeed writes the whole block in one step with no pauses, timed, then writes it again:
 * it announces "timing <first-pass-ns> <second-pass-ns>" before "touched".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SMALL_CHUNK (64 * 1024) /* below glibc's 128 KiB mmap threshold */
#define HUGE_ALIGN (2 * 1024 * 1024)

static int control_fd = -1;

static void announce(const char *fmt, unsigned long a, unsigned long b)
{
    char line[128];
    int n;

    if (control_fd < 0)
        return;
    n = snprintf(line, sizeof(line), fmt, a, b);
    if (write(control_fd, line, (size_t)n) != n) {
        perror("control fd");
        exit(3);
    }
}

/* Waits for the agent's next command; by hand, paces with sleep instead. */
static void await(const char *expected, unsigned int fallback_sleep)
{
    char line[64];

    if (control_fd < 0) {
        sleep(fallback_sleep);
        return;
    }
    if (fgets(line, sizeof(line), stdin) == NULL) {
        fprintf(stderr, "allocate: control channel closed while waiting for '%s'\n", expected);
        exit(4);
    }
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line, expected) != 0) {
        fprintf(stderr, "allocate: expected '%s', got '%s'\n", expected, line);
        exit(5);
    }
}

static void print_now_touched(unsigned long bytes)
{
    time_t now = time(NULL);
    char stamp[64];

    strftime(stamp, sizeof(stamp), "%a %b %e %H:%M:%S %Y", localtime(&now));
    printf("%s: touched %luMB\n", stamp, bytes / (1024UL * 1024UL));
    fflush(stdout);
}

/* Writes bytes [from, from + len) of the allocation made of SMALL_CHUNK pieces. */
static void touch_chunks(char **chunks, unsigned long from, unsigned long len)
{
    while (len > 0) {
        unsigned long within = from % SMALL_CHUNK;
        unsigned long n = SMALL_CHUNK - within;

        if (n > len)
            n = len;
        memset(chunks[from / SMALL_CHUNK] + within, 1, n);
        from += n;
        len -= n;
    }
}

static unsigned long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static unsigned long parse_bytes(const char *text, const char *what)
{
    char *end;
    unsigned long value;

    errno = 0;
    value = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || value == 0) {
        fprintf(stderr, "allocate: %s must be a positive number of bytes, got '%s'\n", what, text);
        exit(2);
    }
    return value;
}

static void usage(void)
{
    fprintf(stderr, "usage: allocate -s SIZE_BYTES -t STEP_BYTES -v VARIANT [-c CONTROL_FD]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned long size = 0;
    unsigned long step = 0;
    const char *variant = NULL;
    char **chunks = NULL;
    unsigned long nchunks = 0;
    char *p = NULL;
    unsigned long long timing[2] = {0, 0};
    int array[10];
    int opt, i;

    while ((opt = getopt(argc, argv, "s:t:v:c:")) != -1) {
        switch (opt) {
        case 's': size = parse_bytes(optarg, "size"); break;
        case 't': step = parse_bytes(optarg, "step"); break;
        case 'v': variant = optarg; break;
        case 'c': control_fd = (int)parse_bytes(optarg, "control fd"); break;
        default: usage();
        }
    }
    if (size == 0 || step == 0 || variant == NULL)
        usage();
    if (step > size)
        step = size;

    printf("-----------------------stack-----------------------\n");
    for (i = 0; i < 10; i++) {
        array[i] = i;
        printf("stack: %p: %d\n", (void *)&array[i], array[i]);
    }
    printf("-----------------------stack-----------------------\n");
    printf("-----------------------heap-----------------------\n");
    fflush(stdout);

    announce("baseline\n", 0, 0);
    await("alloc", 20);

    printf("Will allocate memory\n");
    fflush(stdout);
    if (strcmp(variant, "fullspeed") == 0)
        step = size;
    if (strcmp(variant, "malloc") == 0 || strcmp(variant, "free") == 0 || strcmp(variant, "fullspeed") == 0) {
        p = malloc(size);
    } else if (strcmp(variant, "calloc") == 0) {
        p = calloc(size, 1);
    } else if (strcmp(variant, "mmap") == 0 || strcmp(variant, "mmap-populate") == 0) {
        int flags = MAP_PRIVATE | MAP_ANONYMOUS;
        if (strcmp(variant, "mmap-populate") == 0)
            flags |= MAP_POPULATE;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED)
            p = NULL;
    } else if (strcmp(variant, "madv-hugepage") == 0 || strcmp(variant, "madv-nohugepage") == 0) {
        /* Over-map by 2 MiB and trim, so the region is 2 MiB aligned and huge pages can fit. */
        char *raw = mmap(NULL, size + HUGE_ALIGN, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw != MAP_FAILED) {
            unsigned long base = ((unsigned long)raw + HUGE_ALIGN - 1) & ~(unsigned long)(HUGE_ALIGN - 1);
            unsigned long head = base - (unsigned long)raw;
            if (head > 0)
                munmap(raw, head);
            if (HUGE_ALIGN - head > 0)
                munmap((char *)base + size, HUGE_ALIGN - head);
            p = (char *)base;
            if (madvise(p, size, strcmp(variant, "madv-hugepage") == 0 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
                perror("madvise");
        }
    } else if (strcmp(variant, "small-mallocs") == 0) {
        unsigned long n;
        nchunks = (size + SMALL_CHUNK - 1) / SMALL_CHUNK;
        chunks = malloc(nchunks * sizeof(*chunks));
        for (n = 0; chunks != NULL && n < nchunks; n++) {
            chunks[n] = malloc(SMALL_CHUNK);
            if (chunks[n] == NULL) {
                chunks = NULL;
                break;
            }
        }
        p = chunks != NULL ? chunks[0] : NULL;
    } else {
        fprintf(stderr, "allocate: unknown variant '%s'\n", variant);
        return 2;
    }
    if (p == NULL) {
        fprintf(stderr, "Failed to allocate memory: %s\n", strerror(errno));
        return 1;
    }
    printf("Succeeded to allocate memory: address = %p; size = 0x%lx ***\n", (void *)p, size);
    printf("Before write values to physical memory\n");
    fflush(stdout);
    announce("allocated %lx %lu\n", (unsigned long)p, size);

    {
        unsigned long done = 0, index = 0;
        while (done < size) {
            unsigned long len = size - done < step ? size - done : step;
            await("touch", 1);
            if (chunks != NULL) {
                touch_chunks(chunks, done, len);
            } else if (strcmp(variant, "fullspeed") == 0) {
                unsigned long long t0 = now_ns(), t1, t2;
                memset(p, 1, size);
                t1 = now_ns();
                memset(p, 2, size);
                t2 = now_ns();
                done = size - len; /* the step below accounts for the whole block */
                printf("first touch: %.3f ms; second pass: %.3f ms\n", (t1 - t0) / 1e6, (t2 - t1) / 1e6);
                fflush(stdout);
                timing[0] = t1 - t0;
                timing[1] = t2 - t1;
            } else {
                memset(p + done, 1, len);
            }
            done += len;
            index++;
            print_now_touched(done);
            announce("step %lu %lu\n", index, done);
        }
    }
    if (strcmp(variant, "fullspeed") == 0)
        announce("timing %lu %lu\n", (unsigned long)timing[0], (unsigned long)timing[1]);
    announce("touched\n", 0, 0);

    if (strcmp(variant, "free") == 0) {
        await("free", 1);
        free(p);
        printf("Freed memory\n");
        fflush(stdout);
        announce("freed\n", 0, 0);
    }
    await("exit", 0);
    return 0;
}
