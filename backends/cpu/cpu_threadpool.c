/* A persistent fork-join thread pool.  Threads live as long as the context
 * so that kernels pay a wake-up, not a pthread_create, per parallel loop.
 *
 * A loop's range is cut statically into one contiguous chunk per thread,
 * but chunks are *claimed* rather than assigned: the caller starts on the
 * first at once, and helpers, then the caller again, claim the rest.  The loop
 * ends when every chunk is done, not when every helper has checked in, so
 * on a loaded machine a descheduled helper never stalls a kernel; it
 * simply does less of the work. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
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

#define CPU_CACHE_LINE 64

/* The fields are grouped by how often they are written, one cache line
 * per group.  Starting a loop writes the whole loop line (job, ticket,
 * done count, generation) in one ownership of the line, and a spinning
 * helper then fetches all of it with one transfer.  The rarely written
 * flags live on their own line: the helpers' spin also polls `stop`, and
 * had it shared a line with a field written per loop, every such store
 * would first have had to take that line back from the spinning helper.
 * Measured with 2 threads on the 2-vCPU Xeon VM, a loop of two 70 ns
 * chunks (serially 140 ns): 770 ns from start to return with every field
 * packed together, 480 ns with the hot fields on separate lines, and
 * 310-360 ns with this layout, the caller owning chunk 0 and no lock
 * taken unless a helper sleeps. */
struct cpu_threadpool {
    int size;                 /* threads including the caller */
    pthread_t *threads;       /* size - 1 helpers */
    pthread_mutex_t lock;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    /* rarely written */
    _Alignas(CPU_CACHE_LINE) atomic_int stop;
    atomic_int sleepers;      /* helpers blocked, or about to block, on start_cv */
    atomic_int sleeping_main; /* the caller waits on done_cv */
    /* the current loop, written by the caller as it starts one; the job
     * fields are stable while any of its chunks is unfinished */
    _Alignas(CPU_CACHE_LINE) atomic_uint_fast32_t generation; /* bumped once per loop */
    _Atomic uint64_t ticket;
    atomic_int helper_done; /* chunks finished by helpers in this loop */
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

/* Runs chunk `index` of the current loop on thread `thread`. */
static void cpu_pool_run_chunk(cpu_threadpool *pool, uint32_t index, int thread)
{
    size_t begin = (size_t)index * pool->chunk;
    size_t end = begin + pool->chunk < pool->ntasks ? begin + pool->chunk : pool->ntasks;
    if (begin < end)
        pool->fn(pool->arg, begin, end, thread);
}

/* Claims and runs chunks of loop `gen` until none are left; returns how
 * many this thread ran.  A helper counts each in helper_done (the caller
 * counts its own) and wakes a caller that has gone to sleep. */
static int cpu_pool_work(cpu_threadpool *pool, uint32_t gen, int thread)
{
    int ran = 0;
    for (;;) {
        uint64_t t = atomic_load(&pool->ticket);
        uint32_t n = (uint32_t)(t >> 16) & 0xFFFF, next = (uint32_t)t & 0xFFFF;
        if ((uint32_t)(t >> 32) != gen || next >= n)
            return ran;
        if (!atomic_compare_exchange_weak(&pool->ticket, &t, t + 1))
            continue;
        cpu_pool_run_chunk(pool, next, thread);
        ran++;
        if (thread == 0)
            continue;
        atomic_fetch_add(&pool->helper_done, 1);
        if (atomic_load(&pool->sleeping_main)) {
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
        if (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop)) {
            /* Counted as a sleeper before the generation is checked again
             * (both sequentially consistent): either this check sees the
             * caller's new generation, or the caller's fenced check after
             * its first chunk sees the sleeper and broadcasts under the
             * lock, which this thread holds until pthread_cond_wait
             * releases it. */
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->start_cv, &pool->lock);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->lock);
        }
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
    /* aligned: the struct's cache-line groups must start on lines */
    cpu_threadpool *pool = aligned_alloc(CPU_CACHE_LINE, sizeof *pool);
    if (!pool)
        return NULL;
    memset(pool, 0, sizeof *pool);
    pool->size = 1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->ticket, 0);
    atomic_init(&pool->helper_done, 0);
    atomic_init(&pool->sleeping_main, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->sleepers, 0);
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

static void cpu_pool_wake_helpers(cpu_threadpool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->lock);
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
    /* Chunk 0 is the caller's without a claim, so it starts at once; the
     * helpers claim from chunk 1.  The relaxed stores are published by the
     * release store of the generation, which a helper loads (acquire)
     * before it reads them. */
    atomic_store_explicit(&pool->helper_done, 0, memory_order_relaxed);
    uint32_t gen = (uint32_t)atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->ticket, CPU_TICKET(gen, pool->nchunks, 1), memory_order_relaxed);
    atomic_store_explicit(&pool->generation, gen, memory_order_release);
    /* A helper that has gone to sleep needs the lock and a broadcast.  The
     * store above may still sit in this core's store buffer, so a helper
     * going to sleep right now can miss it while this load misses its
     * sleeper count: the fenced check after chunk 0 catches that case.
     * The loop is correct either way, since the caller claims whatever no
     * helper has. */
    if (atomic_load_explicit(&pool->sleepers, memory_order_relaxed))
        cpu_pool_wake_helpers(pool);
    cpu_pool_run_chunk(pool, 0, 0);
    atomic_thread_fence(memory_order_seq_cst);
    int mine = 1 + cpu_pool_work(pool, gen, 0);
    if (mine == pool->nchunks)
        return;
    if (atomic_load_explicit(&pool->sleepers, memory_order_relaxed))
        cpu_pool_wake_helpers(pool);

    int want = pool->nchunks - mine;
    uint64_t start = 0;
    unsigned polls = 0;
    while (atomic_load(&pool->helper_done) < want && !cpu_spin_expired(&start, &polls))
        ;
    if (atomic_load(&pool->helper_done) < want) {
        pthread_mutex_lock(&pool->lock);
        atomic_store(&pool->sleeping_main, 1);
        while (atomic_load(&pool->helper_done) < want)
            pthread_cond_wait(&pool->done_cv, &pool->lock);
        atomic_store(&pool->sleeping_main, 0);
        pthread_mutex_unlock(&pool->lock);
    }
}
