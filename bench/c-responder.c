/*
 * The ceiling for pxe-catalog's FastCGI hop: a minimal libfcgi responder that does no work.
 * THREADS threads (bench/run.py compiles it with the worker's count, two per core) accept on the
 * socket given as argv[1]; both were measured fastest with two threads per core here.
 * GET /c/xaccel answers with a fixed X-Accel-Redirect, GET /c/xaccel/NAME with one to the plain file
 * NAME in the same location (the floor of boot-part downloads); anything else with a fixed small JSON.
 * The redirect carries the same headers as the worker's download answer and points into the
 * same kind of internal location (run.py puts both behind one generated nginx site), so the
 * two differ only in the work the FastCGI process does.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifndef THREADS
#define THREADS 4
#endif

static int listen_fd;

static const char json_reply[] =
    "Status: 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 29\r\n\r\n"
    "{\"name\":\"c-responder\",\"ok\":1}";
static const char xaccel_reply[] =
    "Status: 200 OK\r\nContent-Type: image/png\r\n"
    "Content-Disposition: attachment; filename=\"4k.rts.png\"; filename*=UTF-8''4k.rts.png\r\n"
    "X-Accel-Redirect: /_pxe_internal/0/4k.rts.png\r\nContent-Length: 0\r\n\r\n";

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    FCGX_InitRequest(&request, listen_fd, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        const char *uri = FCGX_GetParam("DOCUMENT_URI", request.envp);
        if (uri && strcmp(uri, "/c/xaccel") == 0) {
            FCGX_PutStr(xaccel_reply, (int)sizeof(xaccel_reply) - 1, request.out);
        } else if (uri && strncmp(uri, "/c/xaccel/", 10) == 0 && !strchr(uri + 10, '/') && uri[10] != '.' && strlen(uri + 10) < 200) {
            char reply[512];
            int length = snprintf(reply, sizeof reply,
                                  "Status: 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                  "Content-Disposition: attachment; filename=\"%s\"; filename*=UTF-8''%s\r\n"
                                  "X-Accel-Redirect: /_pxe_internal/0/%s\r\nContent-Length: 0\r\n\r\n", uri + 10, uri + 10, uri + 10);
            FCGX_PutStr(reply, length, request.out);
        } else {
            FCGX_PutStr(json_reply, (int)sizeof(json_reply) - 1, request.out);
        }
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
        return 2;
    }
    FCGX_Init();
    signal(SIGPIPE, SIG_IGN);
    listen_fd = FCGX_OpenSocket(argv[1], 1024);
    if (listen_fd < 0) {
        perror("FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[1], 0666);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, serve, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    return 0;
}
