/*
 * loadgen: paced StatsD load over UDP to 127.0.0.1, for the Hourglass benchmark.
 *
 * It has to be much faster than any Node receiver, so that a measured loss is the receiver's
 * and never the sender's. Datagrams are formatted once into a pool, all of the same size, and
 * sent with sendmmsg, several UDP GSO messages of up to 64 datagrams per call: the kernel splits
 * them back into separate datagrams before they reach the receiving socket, so receivers see
 * ordinary datagrams while the sender pays the network stack once per 64. The rate (lines/s) is
 * paced by a token bucket refilled every 1 ms slice. It prints, as one JSON line, exactly how
 * many lines and datagrams the kernel accepted, which the receivers' counts are checked against.
 *
 * Lines are timers, `bench.k00042:12.34|ms`, keys taken in turn from K distinct names, values
 * varied, optionally suffixed `|T<unix_seconds>` so that all of them land in a chosen hour.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEGMENTS 64                /* datagrams per UDP GSO message */
#define MESSAGES 16                /* GSO messages per sendmmsg call */
#define MAX_GSO_BYTES 65000        /* one GSO message must fit in one IP packet */
#define SLICE_NS 1000000LL         /* pacing slice: 1 ms */
#define MAX_CATCH_UP_SLICES 5      /* after a stall, burst at most 5 slices' worth */
#define MIN_POOL_LINES 65536
#define LINE_CAPACITY 64

struct options {
    int port;
    double rate;                   /* lines/s; 0 = as fast as possible */
    double seconds;                /* 0 = no time limit */
    long long lines;               /* 0 = no line limit */
    int lines_per_datagram;
    int keys;
    long long timestamp;           /* 0 = no |T suffix */
};

/* Datagrams formatted once, back to back, all of the same size (which UDP GSO requires). */
struct pool {
    char *bytes;
    size_t datagram_size;
    long count;
};

struct sender {
    int fd;
    struct pool pool;
    long next;                     /* next datagram of the pool */
    long long datagrams;           /* accepted by the kernel so far */
    long long errors;
};

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s --port P [--rate LINES_PER_S] (--seconds S | --lines N)\n"
            "          [--lines-per-datagram L] [--keys K] [--timestamp UNIX_SECONDS]\n",
            argv0);
    exit(2);
}

static struct options parse_options(int argc, char **argv) {
    static const struct option long_options[] = {
        {"port", required_argument, 0, 'p'},
        {"rate", required_argument, 0, 'r'},
        {"seconds", required_argument, 0, 's'},
        {"lines", required_argument, 0, 'n'},
        {"lines-per-datagram", required_argument, 0, 'l'},
        {"keys", required_argument, 0, 'k'},
        {"timestamp", required_argument, 0, 't'},
        {0, 0, 0, 0},
    };
    struct options o = {.lines_per_datagram = 1, .keys = 10};
    int c;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (c) {
        case 'p': o.port = atoi(optarg); break;
        case 'r': o.rate = atof(optarg); break;
        case 's': o.seconds = atof(optarg); break;
        case 'n': o.lines = atoll(optarg); break;
        case 'l': o.lines_per_datagram = atoi(optarg); break;
        case 'k': o.keys = atoi(optarg); break;
        case 't': o.timestamp = atoll(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (o.port <= 0 || o.port > 65535 || o.rate < 0 || o.keys < 1 || o.keys > 100000 ||
        o.lines_per_datagram < 1 || o.lines_per_datagram > 20 || (o.seconds <= 0 && o.lines <= 0) ||
        (o.lines > 0 && o.lines % o.lines_per_datagram != 0)) {
        fprintf(stderr, "loadgen: bad options (--lines must be a multiple of --lines-per-datagram)\n");
        usage(argv[0]);
    }
    return o;
}

static long gcd(long a, long b) {
    while (b != 0) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Pool size in lines: a multiple of both K and L, so every key is sent equally often. */
static long pool_lines(const struct options *o) {
    long lcm = (long)o->keys / gcd(o->keys, o->lines_per_datagram) * o->lines_per_datagram;
    return (MIN_POOL_LINES + lcm - 1) / lcm * lcm;
}

static uint32_t next_random(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/*
 * A value from 1.000 to 999.9 ms, a third of them in each decade (1-10, 10-100, 100-1000),
 * always 5 characters long so that every datagram has the same size.
 */
static int format_value(char *out, uint32_t *rng) {
    uint32_t digits = 1000 + next_random(rng) % 9000;       /* 4 significant digits */
    switch (next_random(rng) % 3) {
    case 0: return sprintf(out, "%u.%03u", digits / 1000, digits % 1000);
    case 1: return sprintf(out, "%u.%02u", digits / 100, digits % 100);
    default: return sprintf(out, "%u.%u", digits / 10, digits % 10);
    }
}

static int format_line(char *out, long index, const struct options *o, uint32_t *rng) {
    int n = sprintf(out, "bench.k%05ld:", index % o->keys);
    n += format_value(out + n, rng);
    n += sprintf(out + n, "|ms");
    if (o->timestamp > 0) n += sprintf(out + n, "|T%lld", o->timestamp);
    return n;
}

static size_t format_datagram(char *out, long first_line, const struct options *o, uint32_t *rng) {
    char *cursor = out;
    for (int i = 0; i < o->lines_per_datagram; i++) {
        if (i > 0) *cursor++ = '\n';
        cursor += format_line(cursor, first_line + i, o, rng);
    }
    return (size_t)(cursor - out);
}

static struct pool build_pool(const struct options *o) {
    struct pool p = {.count = pool_lines(o) / o->lines_per_datagram};
    char scratch[SEGMENTS * LINE_CAPACITY];
    uint32_t rng = 2463534242u;
    p.datagram_size = format_datagram(scratch, 0, o, &rng);
    p.bytes = malloc((size_t)p.count * p.datagram_size + LINE_CAPACITY);
    if (!p.bytes) {
        perror("loadgen: malloc");
        exit(1);
    }
    rng = 2463534242u;
    for (long d = 0; d < p.count; d++) {
        size_t size = format_datagram(p.bytes + (size_t)d * p.datagram_size, d * o->lines_per_datagram, o, &rng);
        if (size != p.datagram_size) {
            fprintf(stderr, "loadgen: datagram %ld has %zu bytes, not %zu\n", d, size, p.datagram_size);
            exit(1);
        }
    }
    return p;
}

static int open_socket(int port, size_t datagram_size) {
    struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int segment = (int)datagram_size, sndbuf = 4 << 20;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&target, sizeof target) < 0 ||
        setsockopt(fd, SOL_UDP, UDP_SEGMENT, &segment, sizeof segment) < 0) {
        perror("loadgen: socket");
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    return fd;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until_ns(long long deadline) {
    struct timespec ts = {.tv_sec = deadline / 1000000000LL, .tv_nsec = deadline % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static long min_long(long a, long b) { return a < b ? a : b; }

/* Fills one sendmmsg call with GSO messages for up to `count` datagrams. */
static void fill_messages(struct sender *s, long long count, struct mmsghdr *msgs, struct iovec *iov,
                               unsigned int *messages) {
    long per_message = min_long(SEGMENTS, MAX_GSO_BYTES / (long)s->pool.datagram_size);
    long next = s->next;
    long long planned = 0;
    *messages = 0;
    while (*messages < MESSAGES && planned < count) {
        long n = min_long(min_long(per_message, s->pool.count - next), (long)(count - planned));
        iov[*messages] = (struct iovec){.iov_base = s->pool.bytes + (size_t)next * s->pool.datagram_size,
                                        .iov_len = (size_t)n * s->pool.datagram_size};
        msgs[*messages] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[*messages], .msg_iovlen = 1}};
        next = (next + n) % s->pool.count;
        planned += n;
        (*messages)++;
    }
}

/* Sends `count` datagrams (fewer if the kernel refuses some); counts what it accepted. */
static void send_datagrams(struct sender *s, long long count) {
    struct mmsghdr msgs[MESSAGES];
    struct iovec iov[MESSAGES];
    long long sent = 0;
    while (sent < count) {
        unsigned int messages;
        fill_messages(s, count - sent, msgs, iov, &messages);
        int accepted = sendmmsg(s->fd, msgs, messages, 0);
        if (accepted < 0) {
            if (errno == EINTR) continue;
            s->errors++;
            return;
        }
        for (int m = 0; m < accepted; m++) {
            long n = (long)(iov[m].iov_len / s->pool.datagram_size);
            s->next = (s->next + n) % s->pool.count;
            s->datagrams += n;
            sent += n;
        }
    }
}

/* Datagrams the token bucket has allowed after `elapsed_ns`, within the line limit. */
static long long datagrams_due(const struct options *o, long long elapsed_ns, long long max_datagrams) {
    if (o->rate <= 0) return max_datagrams;
    long long due = (long long)(o->rate * (double)elapsed_ns / 1e9 / o->lines_per_datagram);
    return due < max_datagrams ? due : max_datagrams;
}

static void run(struct sender *s, const struct options *o) {
    long long max_datagrams = o->lines > 0 ? o->lines / o->lines_per_datagram : INT64_MAX;
    long long duration_ns = o->seconds > 0 ? (long long)(o->seconds * 1e9) : INT64_MAX;
    long long max_burst = (long long)(o->rate * MAX_CATCH_UP_SLICES * SLICE_NS / 1e9 / o->lines_per_datagram) + 1;
    long long unpaced_chunk = (long long)SEGMENTS * MESSAGES;
    long long start = now_ns(), slice_end = start + SLICE_NS;
    long long forfeited = 0;       /* tokens given up after a stall, so they never come back as a burst */

    for (;;) {
        long long elapsed = now_ns() - start;
        if (elapsed > duration_ns) elapsed = duration_ns;
        /* cap at the line limit after giving up forfeited tokens, or a stall would keep the last
         * datagrams from ever becoming due */
        long long due = datagrams_due(o, elapsed, INT64_MAX) - forfeited;
        if (due > max_datagrams) due = max_datagrams;
        long long backlog = due - s->datagrams;
        if (o->rate > 0 && backlog > max_burst) {
            forfeited += backlog - max_burst;
            backlog = max_burst;
        }
        if (backlog > 0) send_datagrams(s, o->rate > 0 || backlog < unpaced_chunk ? backlog : unpaced_chunk);
        if (s->datagrams >= max_datagrams || elapsed >= duration_ns) return;
        if (o->rate > 0) {
            sleep_until_ns(slice_end);
            slice_end += SLICE_NS;
        }
    }
}

int main(int argc, char **argv) {
    struct options o = parse_options(argc, argv);
    struct pool pool = build_pool(&o);
    struct sender s = {.fd = open_socket(o.port, pool.datagram_size), .pool = pool};

    long long start = now_ns();
    run(&s, &o);
    double seconds = (double)(now_ns() - start) / 1e9;

    long long lines = s.datagrams * o.lines_per_datagram;
    printf("{\"lines\":%lld,\"datagrams\":%lld,\"seconds\":%.6f,\"linesPerSecond\":%.0f,\"sendErrors\":%lld}\n",
           lines, s.datagrams, seconds, lines / seconds, s.errors);
    return s.errors > 0 ? 1 : 0;
}
