/* A persistent fork-join thread pool.  Threads live as long as the context
 * so that kernels pay a wake-up, not a pthread_create, per parallel loop.
 * Work is split statically into one contiguous chunk per thread: kernels
 * are uniform, so dynamic scheduling would only add synchronization. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cpu_internal.h"

/* Spin this many polls before sleeping: a training step issues many short
 * kernels back to back, and a futex wake-up costs more than a short spin. */
#define CPU_POOL_SPIN 2000

struct cpu_threadpool {
    int size;                 /* threads including the caller */
    pthread_t *threads;       /* size - 1 helpers */
    pthread_mutex_t lock;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    atomic_uint_fast64_t generation; /* bumped once per parallel loop */
    atomic_int pending;              /* helpers still working on this loop */
    atomic_int stop;
    /* the current loop */
    cpu_parallel_fn fn;
    void *arg;
    size_t ntasks, chunk;
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

static void cpu_run_chunk(cpu_threadpool *pool, int index)
{
    size_t begin = (size_t)index * pool->chunk;
    size_t end = begin + pool->chunk;
    if (end > pool->ntasks)
        end = pool->ntasks;
    if (begin < end)
        pool->fn(pool->arg, begin, end, index);
}

static void *cpu_worker_main(void *p)
{
    cpu_worker_arg *wa = p;
    cpu_threadpool *pool = wa->pool;
    int index = wa->index;
    free(wa);
    uint_fast64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop) &&
               spins < CPU_POOL_SPIN) {
            cpu_pause();
            spins++;
        }
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
            pthread_cond_wait(&pool->start_cv, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
        if (atomic_load(&pool->stop))
            return NULL;
        seen = atomic_load(&pool->generation);
        cpu_run_chunk(pool, index);
        if (atomic_fetch_sub(&pool->pending, 1) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done_cv);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

cpu_threadpool *cpu_threadpool_create(int nthreads)
{
    if (nthreads < 1)
        nthreads = 1;
    cpu_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->size = 1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
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
    atomic_store(&pool->pending, pool->size - 1);
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->lock);

    cpu_run_chunk(pool, 0);

    int spins = 0;
    while (atomic_load(&pool->pending) > 0 && spins < CPU_POOL_SPIN) {
        cpu_pause();
        spins++;
    }
    if (atomic_load(&pool->pending) > 0) {
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->pending) > 0)
            pthread_cond_wait(&pool->done_cv, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
    }
}
