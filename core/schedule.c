/* Learning-rate schedules: constant, step decay and cosine annealing, each
 * with an optional linear warm-up. */
#include <math.h>

#include "mlopt/mlopt.h"

float mlopt_schedule_lr(const mlopt_schedule *s, long long step)
{
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return s->base_lr * (float)(step + 1) / (float)s->warmup_steps;
    long long t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    switch (s->kind) {
    case MLOPT_SCHED_STEP:
        if (s->step_size > 0)
            return s->base_lr * powf(s->gamma > 0 ? s->gamma : 0.1f, (float)(t / s->step_size));
        return s->base_lr;
    case MLOPT_SCHED_COSINE: {
        long long span = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
        if (span <= 0)
            return s->base_lr;
        double frac = (double)t / (double)span;
        if (frac > 1.0)
            frac = 1.0;
        return (float)(s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * frac)));
    }
    case MLOPT_SCHED_CONSTANT:
        break;
    }
    return s->base_lr;
}
