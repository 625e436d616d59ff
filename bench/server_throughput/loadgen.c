/* NTP client-request load generator for bench/server_throughput (loopback only).
 * usage: loadgen SRC_IP DST_IP PORT SECONDS WINDOW
 * Keeps WINDOW requests outstanding on one connected UDP socket (sendmmsg/recvmmsg batches) and prints
 * "sent=N replies=M seconds=S" at the end. Requests are 48-byte NTPv4 mode-3 packets. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s SRC DST PORT SECONDS WINDOW\n", argv[0]); return 2; }
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
    unsigned char req[48] = {0x23};
    unsigned char rbuf[BATCH][128];
    struct mmsghdr smsg[BATCH], rmsg[BATCH];
    struct iovec siov[BATCH], riov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        siov[i].iov_base = req; siov[i].iov_len = sizeof req;
        riov[i].iov_base = rbuf[i]; riov[i].iov_len = sizeof rbuf[i];
        memset(&smsg[i], 0, sizeof smsg[i]); memset(&rmsg[i], 0, sizeof rmsg[i]);
        smsg[i].msg_hdr.msg_iov = &siov[i]; smsg[i].msg_hdr.msg_iovlen = 1;
        rmsg[i].msg_hdr.msg_iov = &riov[i]; rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0, replies = 0, outstanding = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
        while (outstanding < window) {
            int n = window - outstanding < BATCH ? window - outstanding : BATCH;
            int k = sendmmsg(fd, smsg, n, 0);
            if (k <= 0) break;
            sent += k; outstanding += k;
        }
        int r = recvmmsg(fd, rmsg, BATCH, MSG_WAITFORONE, NULL);
        if (r > 0) { replies += r; outstanding -= r; }
        else if (errno == EAGAIN || errno == EWOULDBLOCK) outstanding = 0; /* lost: refill the window */
    }
    printf("sent=%ld replies=%ld seconds=%.3f\n", sent, replies, now() - start);
    return 0;
}
