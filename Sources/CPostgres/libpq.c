#include "CPostgres.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
// libpq's own declarations type every pointer below (__typeof__), so a wrong signature is a
// compile error; only declarations are used: nothing here references a libpq symbol.
#include <postgresql/libpq-fe.h>

#define LIBPQ_FUNCTIONS(X) \
    X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQsocket) X(PQconsumeInput) \
    X(PQnotifies) X(PQfreemem) X(PQexecParams) X(PQresultStatus) X(PQntuples) X(PQnfields) \
    X(PQgetisnull) X(PQgetvalue) X(PQresultErrorField) X(PQclear)

#define DECLARE(name) static __typeof__(&name) p_##name;
LIBPQ_FUNCTIONS(DECLARE)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_error;
static char load_error_text[512];

static void load(void) {
    // RTLD_LOCAL: libpq's own dependencies (Kerberos, LDAP, TLS) stay out of the global namespace.
    void *library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        strncpy(load_error_text, reason ? reason : "libpq.so.5 cannot be opened", sizeof load_error_text - 1);
        load_error = load_error_text;
        return;
    }
#define LOOK_UP(name) \
    p_##name = (__typeof__(&name))dlsym(library, #name); \
    if (p_##name == NULL) { load_error = "libpq.so.5 lacks " #name; return; }
    LIBPQ_FUNCTIONS(LOOK_UP)
}

int pxe_pq_load(const char **error) {
    pthread_once(&once, load);
    if (load_error != NULL) {
        if (error != NULL) *error = load_error;
        return -1;
    }
    return 0;
}

PGconn *pxe_pq_connect(const char *const *keywords, const char *const *values) { return p_PQconnectdbParams(keywords, values, 1); }
int pxe_pq_is_connected(const PGconn *connection) { return p_PQstatus(connection) == CONNECTION_OK; }
const char *pxe_pq_error_message(const PGconn *connection) { return p_PQerrorMessage(connection); }
void pxe_pq_finish(PGconn *connection) { p_PQfinish(connection); }
int pxe_pq_socket(const PGconn *connection) { return p_PQsocket(connection); }
int pxe_pq_consume_input(PGconn *connection) { return p_PQconsumeInput(connection); }

char *pxe_pq_next_notification(PGconn *connection) {
    PGnotify *notification = p_PQnotifies(connection);
    if (notification == NULL) return NULL;
    char *copy = strdup(notification->extra ? notification->extra : "");
    p_PQfreemem(notification);
    return copy;
}

void pxe_pq_free_copy(char *copy) { free(copy); }

PGresult *pxe_pq_exec(PGconn *connection, const char *sql, int count, const char *const *values) {
    return p_PQexecParams(connection, sql, count, NULL, values, NULL, NULL, 0);
}
int pxe_pq_result_is_ok(const PGresult *result) {
    ExecStatusType status = p_PQresultStatus(result);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}
int pxe_pq_ntuples(const PGresult *result) { return p_PQntuples(result); }
int pxe_pq_nfields(const PGresult *result) { return p_PQnfields(result); }
int pxe_pq_getisnull(const PGresult *result, int row, int column) { return p_PQgetisnull(result, row, column); }
char *pxe_pq_getvalue(const PGresult *result, int row, int column) { return p_PQgetvalue(result, row, column); }
char *pxe_pq_result_error_field(const PGresult *result, int code) { return p_PQresultErrorField(result, code); }
void pxe_pq_clear(PGresult *result) { if (result != NULL) p_PQclear(result); }
