/* NTP client-request load generator for bench/server_throughput (loopback or a test's network namespace only).
 * usage: loadgen SRC_IP DST_IP PORT SECONDS WINDOW RECORDS [spin|block]
 * RECORDS is a file of requests made by run.py: u32 count, then per request u16 length, u16 key length, the
 * request bytes, the reply key (empty for plain requests).  Requests go out round robin, WINDOW outstanding
 * (sendmmsg/recvmmsg batches).  A reply counts as valid only when it is a mode-4, non-KoD answer whose origin
 * timestamp is the transmit timestamp of one of our requests and, when that request was MAC'd, its key ID is
 * the request's and MD5(key || header) matches the MAC.  Prints "sent=N valid=V invalid=I seconds=S".
 * spin (the default) polls the socket without sleeping, so that no reply's loopback delivery has to wake us on
 * the server's core; block sleeps in recvmmsg until a reply comes (20 ms at most). */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED
#include <arpa/inet.h>
#include <openssl/md5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define MAXREQ 1024

struct record { uint16_t len, keylen; unsigned char req[MAXREQ]; unsigned char key[64]; };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int valid_reply(const unsigned char *r, int n, const struct record *recs, uint32_t count) {
    if (n < 48 || (r[0] & 7) != 4 || r[1] == 0) return 0;         /* mode 4, not a kiss-o'-death */
    uint32_t idx = ((uint32_t)r[28] << 24) | ((uint32_t)r[29] << 16) | ((uint32_t)r[30] << 8) | r[31];
    if (idx >= count) return 0;
    const struct record *q = &recs[idx];
    if (memcmp(r + 24, q->req + 40, 8)) return 0;                 /* origin echoes our transmit timestamp */
    if (!q->keylen) return n == 48;
    if (n != 48 + 4 + 16 || memcmp(r + 48, q->req + 48, 4)) return 0;  /* the request's key ID, MD5 MAC */
    unsigned char buf[64 + 48], digest[16];
    memcpy(buf, q->key, q->keylen);
    memcpy(buf + q->keylen, r, 48);
    MD5(buf, q->keylen + 48, digest);
    return memcmp(digest, r + 52, 16) == 0;
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s SRC DST PORT SECONDS WINDOW RECORDS [spin|block]\n", argv[0]); return 2;
    }
    int spin = argc == 7 || strcmp(argv[7], "block") != 0;
    FILE *f = fopen(argv[6], "rb");
    uint32_t count = 0;
    if (!f || fread(&count, 4, 1, f) != 1 || count == 0) { perror(argv[6]); return 2; }
    struct record *recs = calloc(count, sizeof *recs);
    for (uint32_t i = 0; i < count; i++) {
        if (fread(&recs[i].len, 2, 1, f) != 1 || fread(&recs[i].keylen, 2, 1, f) != 1 || recs[i].len > MAXREQ ||
            recs[i].keylen > 64 || fread(recs[i].req, 1, recs[i].len, f) != recs[i].len ||
            fread(recs[i].key, 1, recs[i].keylen, f) != recs[i].keylen) { fprintf(stderr, "bad records\n"); return 2; }
    }
    fclose(f);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in src = {0}, dst = {0};
    src.sin_family = dst.sin_family = AF_INET;
    inet_pton(AF_INET, argv[1], &src.sin_addr);
    inet_pton(AF_INET, argv[2], &dst.sin_addr);
    dst.sin_port = htons(atoi(argv[3]));
    double seconds = atof(argv[4]);
    long window = atol(argv[5]);
    int buf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) || connect(fd, (struct sockaddr *)&dst, sizeof dst)) {
        perror("bind/connect"); return 1;
    }
    struct timeval tv = {0, 20000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char rbuf[BATCH][MAXREQ];
    struct mmsghdr smsg[BATCH], rmsg[BATCH];
    struct iovec siov[BATCH], riov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        riov[i].iov_base = rbuf[i]; riov[i].iov_len = sizeof rbuf[i];
        memset(&smsg[i], 0, sizeof smsg[i]); memset(&rmsg[i], 0, sizeof rmsg[i]);
        smsg[i].msg_hdr.msg_iov = &siov[i]; smsg[i].msg_hdr.msg_iovlen = 1;
        rmsg[i].msg_hdr.msg_iov = &riov[i]; rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0, valid = 0, invalid = 0, outstanding = 0;
    uint32_t next = 0;
    double start = now(), end = start + seconds, last = start;
    while (now() < end) {
        while (outstanding < window) {
            int n = window - outstanding < BATCH ? window - outstanding : BATCH;
            for (int i = 0; i < n; i++) {
                siov[i].iov_base = recs[next].req; siov[i].iov_len = recs[next].len;
                next = (next + 1) % count;
            }
            int k = sendmmsg(fd, smsg, n, 0);
            if (k <= 0) break;
            sent += k; outstanding += k;
        }
        int k;
        if (spin) {  /* never asleep: a reply's delivery never has to wake us, on the server's core */
            k = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
            if (k <= 0) {
                if (now() - last > 0.02) { outstanding = 0; last = now(); }  /* the server dropped some */
                continue;
            }
            last = now();
        } else {
            k = recvmmsg(fd, rmsg, BATCH, MSG_WAITFORONE, NULL);
            if (k <= 0) { outstanding = 0; continue; }  /* timeout: the server dropped some, refill the window */
        }
        for (int i = 0; i < k; i++) {
            if (valid_reply(rbuf[i], rmsg[i].msg_len, recs, count)) valid++; else invalid++;
        }
        outstanding -= k;
        if (outstanding < 0) outstanding = 0;
    }
    printf("sent=%ld valid=%ld invalid=%ld seconds=%.3f\n", sent, valid, invalid, now() - start);
    return 0;
}
