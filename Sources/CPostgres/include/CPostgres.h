// libpq, opened at run time: the worker needs it only when settings are kept in PostgreSQL,
// so the binary does not link it (`pack`, `inspect` and a SQLite server run without libpq5).
// Each function calls the libpq function of the same name through a pointer `pxe_pq_load`
// looked up; call that first. The types are libpq's own, left opaque here.
#ifndef PXE_CPOSTGRES_H
#define PXE_CPOSTGRES_H

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

/// Opens libpq.so.5 and looks up every function below, once (later calls answer the first
/// outcome). Returns 0, or -1 with `*error` set to dlerror()'s sentence.
int pxe_pq_load(const char **error);

/// PQconnectdbParams with expand_dbname = 1; NULL only when out of memory.
PGconn *pxe_pq_connect(const char *const *keywords, const char *const *values);
/// PQstatus(connection) == CONNECTION_OK.
int pxe_pq_is_connected(const PGconn *connection);
const char *pxe_pq_error_message(const PGconn *connection);
void pxe_pq_finish(PGconn *connection);
int pxe_pq_socket(const PGconn *connection);
int pxe_pq_consume_input(PGconn *connection);
/// The payload of the next pending notification, copied with malloc (free it with
/// pxe_pq_free_copy), or NULL when none is pending.
char *pxe_pq_next_notification(PGconn *connection);
void pxe_pq_free_copy(char *copy);

/// PQexecParams with text parameters and text results.
PGresult *pxe_pq_exec(PGconn *connection, const char *sql, int count, const char *const *values);
/// PQresultStatus(result) is PGRES_COMMAND_OK or PGRES_TUPLES_OK.
int pxe_pq_result_is_ok(const PGresult *result);
int pxe_pq_ntuples(const PGresult *result);
int pxe_pq_nfields(const PGresult *result);
int pxe_pq_getisnull(const PGresult *result, int row, int column);
char *pxe_pq_getvalue(const PGresult *result, int row, int column);
/// PQresultErrorField: `code` is a PG_DIAG_* letter ('C' the SQLSTATE, 'M' the message).
char *pxe_pq_result_error_field(const PGresult *result, int code);
void pxe_pq_clear(PGresult *result);

#endif
