#include "progress.h"

#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(progress *p, int enabled)
{
    p->tty = enabled && isatty(STDERR_FILENO);
    p->last_draw = 0;
    p->drawn = 0;
}

int progress_due(progress *p)
{
    /* Ten redraws a second at most: each costs a device synchronization. */
    return p->tty && now_seconds() - p->last_draw >= 0.1;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

void progress_draw(progress *p, int epoch, int epochs, long long done, long long total, double loss, double acc,
                   double images_per_sec)
{
    if (!p->tty)
        return;
    p->last_draw = now_seconds();
    char tail[128];
    int tl = snprintf(tail, sizeof tail, " %lld/%lld loss %.4f acc %.2f%% %.0f img/s", done, total, loss,
                      100.0 * acc, images_per_sec);
    char head[32];
    int hl = snprintf(head, sizeof head, "epoch %d/%d ", epoch, epochs);
    int bar = terminal_width() - hl - tl - 3;
    fprintf(stderr, "\r%s", head);
    if (bar >= 5) {
        int fill = total > 0 ? (int)((double)bar * (double)done / (double)total) : 0;
        fputc('[', stderr);
        for (int i = 0; i < bar; i++)
            fputc(i < fill ? '=' : (i == fill ? '>' : ' '), stderr);
        fputc(']', stderr);
    }
    fputs(tail, stderr);
    fflush(stderr);
    p->drawn = 1;
}

void progress_clear(progress *p)
{
    if (p->tty && p->drawn) {
        fprintf(stderr, "\r%*s\r", terminal_width() - 1, "");
        fflush(stderr);
        p->drawn = 0;
    }
}
