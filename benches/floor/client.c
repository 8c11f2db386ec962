/* The floor a short request is held to (issue 18): the least a client can
 * do. POSTs a chat request to 127.0.0.1:PORT PATH, de-chunks the chunked
 * answer and prints each `data:` line's "content":"…" (no JSON decoding, no
 * escapes), writing once per read, then a newline. No TLS, no timeouts, no
 * checks a real client needs. Built by the bench: gcc -O2 client.c. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char in[1 << 16], sse[1 << 16], out[1 << 16];

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return 7;
    int n = snprintf(in, sizeof in, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", argv[2], argv[1], strlen(body), body);
    if (write(fd, in, n) != n) return 7;
    size_t have = 0, used = 0, nsse = 0;
    long left = -1; /* bytes left in the current HTTP chunk; -1: the head */
    ssize_t got;
    while ((got = read(fd, in + have, sizeof in - have)) > 0) {
        have += got;
        size_t nout = 0;
        for (;;) { /* the head, chunk-size lines and chunk data, as far as they came */
            char *p = in + used, *end = in + have, *e;
            if (left < 0) {
                if (!(e = memmem(p, end - p, "\r\n\r\n", 4))) break;
                used = e + 4 - in, left = 0;
            } else if (left == 0) {
                if (!(e = memmem(p, end - p, "\r\n", 2))) break;
                if (e == p) { used += 2; continue; } /* the CRLF after chunk data */
                left = strtol(p, NULL, 16), used = e + 2 - in;
                if (left == 0) break; /* the last chunk */
            } else {
                size_t take = (size_t)(end - p) < (size_t)left ? (size_t)(end - p) : (size_t)left;
                if (take > sizeof sse - nsse) return 6; /* a line over 64 KiB */
                if (take == 0) break;
                memcpy(sse + nsse, p, take), nsse += take, used += take, left -= take;
            }
        }
        char *line = sse, *nl; /* whole SSE lines: print their content */
        while ((nl = memchr(line, '\n', sse + nsse - line))) {
            char *c = memmem(line, nl - line, "\"content\":\"", 11), *q;
            if (!strncmp(line, "data:", 5) && c && (q = memchr(c + 11, '"', nl - c - 11)))
                memcpy(out + nout, c + 11, q - c - 11), nout += q - c - 11;
            line = nl + 1;
        }
        memmove(sse, line, nsse -= line - sse);
        memmove(in, in + used, have -= used), used = 0;
        if (nout && write(1, out, nout) != (ssize_t)nout) return 1;
    }
    return write(1, "\n", 1) == 1 && got == 0 ? 0 : 6;
}
