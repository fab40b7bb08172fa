/* Training progress on stderr: a throttled, width-aware bar on a terminal,
 * nothing between epochs otherwise (the caller prints one line per epoch). */
#ifndef MLOPT_CLI_PROGRESS_H
#define MLOPT_CLI_PROGRESS_H

typedef struct progress {
    int tty;
    double last_draw;
    int drawn;
} progress;

void progress_init(progress *p, int enabled);
/* 1 when a redraw is due (so the caller fetches metrics only then). */
int progress_due(progress *p);
void progress_draw(progress *p, int epoch, int epochs, long long done, long long total, double loss, double acc,
                   double images_per_sec);
void progress_clear(progress *p);
double now_seconds(void);

#endif
