/* A persistent fork-join thread pool.  Threads live as long as the context
 * so that kernels pay a wake-up, not a pthread_create, per parallel loop.
 *
 * A loop's range is cut statically into one contiguous chunk per thread,
 * but chunks are *claimed* rather than assigned: the caller starts on them
 * at once, and a helper takes whatever is left when it wakes up.  The loop
 * ends when every chunk is done, not when every helper has checked in, so
 * on a loaded machine a descheduled helper never stalls a kernel; it
 * simply does less of the work. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "cpu_internal.h"

/* Spin for this long before sleeping.  A training step issues many short
 * kernels back to back with serial work between them (small GEMMs, the
 * core's bookkeeping), and a futex wake-up costs tens of microseconds on a
 * VM; a long spin steals the CPU from other work when the machine is
 * oversubscribed.  Measured in time, not in polls, because PAUSE takes
 * 10 to 140 cycles depending on the CPU.  2000 polls (27 us on the 2-vCPU
 * Xeon VM) let the helper fall asleep between most kernels of a batch-1
 * inference; 100 us took the seed CNN's 2-thread training step at batch 64
 * from 5185 to 7079 images/s (medians, bench/NOTES.md).  OpenMP runtimes
 * spin for similar times (libgomp: GOMP_SPINCOUNT). */
#define CPU_POOL_SPIN_NS 100000

/* ticket = generation << 32 | chunk count << 16 | next unclaimed chunk, so
 * one compare-and-swap both checks that the loop is still the current one
 * and claims a chunk of it. */
#define CPU_TICKET(gen, n, next) (((uint64_t)(gen) << 32) | ((uint64_t)(n) << 16) | (uint64_t)(next))

struct cpu_threadpool {
    int size;                 /* threads including the caller */
    pthread_t *threads;       /* size - 1 helpers */
    pthread_mutex_t lock;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    atomic_uint_fast32_t generation; /* bumped once per parallel loop */
    _Atomic uint64_t ticket;
    atomic_int done;                 /* chunks finished in this loop */
    atomic_int sleeping_main;        /* the caller waits on done_cv */
    atomic_int stop;
    /* the current loop; stable while any of its chunks is unfinished */
    cpu_parallel_fn fn;
    void *arg;
    size_t ntasks, chunk;
    int nchunks;
};

typedef struct cpu_worker_arg {
    cpu_threadpool *pool;
    int index;
} cpu_worker_arg;

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline uint64_t cpu_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* One poll of a spin-wait: pauses, and returns 1 once CPU_POOL_SPIN_NS
 * have passed since the wait's first poll (the clock is read every 64
 * polls).  *start and *polls start at 0. */
static inline int cpu_spin_expired(uint64_t *start, unsigned *polls)
{
    cpu_pause();
    if ((++*polls & 63) != 0)
        return 0;
    uint64_t now = cpu_now_ns();
    if (!*start) {
        *start = now;
        return 0;
    }
    return now - *start > CPU_POOL_SPIN_NS;
}

/* Claims and runs chunks of loop `gen` until none are left. */
static void cpu_pool_work(cpu_threadpool *pool, uint32_t gen, int index)
{
    for (;;) {
        uint64_t t = atomic_load(&pool->ticket);
        uint32_t n = (uint32_t)(t >> 16) & 0xFFFF, next = (uint32_t)t & 0xFFFF;
        if ((uint32_t)(t >> 32) != gen || next >= n)
            return;
        if (!atomic_compare_exchange_weak(&pool->ticket, &t, t + 1))
            continue;
        size_t begin = (size_t)next * pool->chunk;
        size_t end = begin + pool->chunk < pool->ntasks ? begin + pool->chunk : pool->ntasks;
        if (begin < end)
            pool->fn(pool->arg, begin, end, index);
        if (atomic_fetch_add(&pool->done, 1) + 1 == (int)n && atomic_load(&pool->sleeping_main)) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done_cv);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

static void *cpu_worker_main(void *p)
{
    cpu_worker_arg *wa = p;
    cpu_threadpool *pool = wa->pool;
    int index = wa->index;
    free(wa);
    uint32_t seen = 0;
    for (;;) {
        uint64_t start = 0;
        unsigned polls = 0;
        while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop) &&
               !cpu_spin_expired(&start, &polls))
            ;
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
            pthread_cond_wait(&pool->start_cv, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
        if (atomic_load(&pool->stop))
            return NULL;
        seen = (uint32_t)atomic_load(&pool->generation);
        cpu_pool_work(pool, seen, index);
    }
}

cpu_threadpool *cpu_threadpool_create(int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > CPU_MAX_THREADS)
        nthreads = CPU_MAX_THREADS;
    cpu_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->size = 1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->ticket, 0);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->sleeping_main, 0);
    atomic_init(&pool->stop, 0);
    if (nthreads > 1) {
        pool->threads = calloc((size_t)nthreads - 1, sizeof *pool->threads);
        if (!pool->threads) {
            cpu_threadpool_destroy(pool);
            return NULL;
        }
        for (int i = 1; i < nthreads; i++) {
            cpu_worker_arg *wa = malloc(sizeof *wa);
            if (!wa) {
                cpu_threadpool_destroy(pool);
                return NULL;
            }
            wa->pool = pool;
            wa->index = i;
            if (pthread_create(&pool->threads[i - 1], NULL, cpu_worker_main, wa) != 0) {
                free(wa);
                cpu_threadpool_destroy(pool);
                return NULL;
            }
            pool->size = i + 1;
        }
    }
    return pool;
}

void cpu_threadpool_destroy(cpu_threadpool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->size; i++)
        pthread_join(pool->threads[i - 1], NULL);
    free(pool->threads);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->start_cv);
    pthread_cond_destroy(&pool->done_cv);
    free(pool);
}

int cpu_threadpool_size(const cpu_threadpool *pool)
{
    return pool ? pool->size : 1;
}

size_t cpu_threadpool_chunk_index(const cpu_threadpool *pool, size_t ntasks, size_t begin)
{
    size_t parts = (size_t)cpu_threadpool_size(pool);
    if (parts > ntasks)
        parts = ntasks;
    if (parts <= 1)
        return 0;
    return begin / ((ntasks + parts - 1) / parts);
}

void cpu_threadpool_run(cpu_threadpool *pool, size_t ntasks, cpu_parallel_fn fn, void *arg)
{
    if (ntasks == 0)
        return;
    if (!pool || pool->size == 1 || ntasks == 1) {
        fn(arg, 0, ntasks, 0);
        return;
    }
    size_t parts = (size_t)pool->size < ntasks ? (size_t)pool->size : ntasks;
    pool->fn = fn;
    pool->arg = arg;
    pool->ntasks = ntasks;
    pool->chunk = (ntasks + parts - 1) / parts;
    pool->nchunks = (int)((ntasks + pool->chunk - 1) / pool->chunk);
    atomic_store(&pool->done, 0);
    pthread_mutex_lock(&pool->lock);
    uint32_t gen = (uint32_t)atomic_load(&pool->generation) + 1;
    atomic_store(&pool->ticket, CPU_TICKET(gen, pool->nchunks, 0));
    atomic_store(&pool->generation, gen);
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->lock);

    cpu_pool_work(pool, gen, 0);

    uint64_t start = 0;
    unsigned polls = 0;
    while (atomic_load(&pool->done) < pool->nchunks && !cpu_spin_expired(&start, &polls))
        ;
    if (atomic_load(&pool->done) < pool->nchunks) {
        pthread_mutex_lock(&pool->lock);
        atomic_store(&pool->sleeping_main, 1);
        while (atomic_load(&pool->done) < pool->nchunks)
            pthread_cond_wait(&pool->done_cv, &pool->lock);
        atomic_store(&pool->sleeping_main, 0);
        pthread_mutex_unlock(&pool->lock);
    }
}
