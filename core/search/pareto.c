/* Pareto front of (accuracy up, cost down). O(n^2): fronts of searches are
 * a few hundred trials at most. */
#include <math.h>

#include "mlopt/search.h"

int mlopt_pareto_front(const double *acc, const double *cost, int n, int *on_front)
{
    int size = 0;
    for (int i = 0; i < n; i++) {
        int dominated = !isfinite(acc[i]) || isnan(cost[i]);
        for (int j = 0; j < n && !dominated; j++) {
            if (j == i || !isfinite(acc[j]) || isnan(cost[j]))
                continue;
            if (acc[j] >= acc[i] && cost[j] <= cost[i] && (acc[j] > acc[i] || cost[j] < cost[i]))
                dominated = 1;
        }
        on_front[i] = !dominated;
        size += !dominated;
    }
    return size;
}
