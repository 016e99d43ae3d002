/* The floor a PixelRTS decoder is compared with: walking a PNG's chunks and inflating its IDAT
 * stream, discarding the output (no unfiltering, no curve, no hashing, nothing written).
 * Usage: inflate-floor FILE; prints the inflated byte count and the seconds it took. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: inflate-floor FILE\n"); return 2; }
    FILE *file = fopen(argv[1], "rb");
    if (!file) { perror(argv[1]); return 1; }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned char header[8];
    if (fread(header, 1, 8, file) != 8) return 1;
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    inflateInit(&stream);
    static unsigned char in[1 << 20], out[1 << 16];
    uint64_t total = 0;
    for (;;) {
        unsigned char chunk[8];
        if (fread(chunk, 1, 8, file) != 8) break;
        uint32_t length = (uint32_t)chunk[0] << 24 | chunk[1] << 16 | chunk[2] << 8 | chunk[3];
        if (memcmp(chunk + 4, "IEND", 4) == 0) break;
        if (memcmp(chunk + 4, "IDAT", 4) != 0) { fseek(file, (long)length + 4, SEEK_CUR); continue; }
        while (length > 0) {
            size_t want = length < sizeof in ? length : sizeof in;
            size_t got = fread(in, 1, want, file);
            if (got == 0) return 1;
            length -= (uint32_t)got;
            stream.next_in = in;
            stream.avail_in = (uInt)got;
            do {
                stream.next_out = out;
                stream.avail_out = sizeof out;
                int status = inflate(&stream, Z_NO_FLUSH);
                total += sizeof out - stream.avail_out;
                if (status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR)) break;
            } while (stream.avail_out == 0);
        }
        fseek(file, 4, SEEK_CUR);   /* CRC */
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("{\"inflated_bytes\": %llu, \"seconds\": %.6f}\n", (unsigned long long)total,
           (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9);
    return 0;
}
