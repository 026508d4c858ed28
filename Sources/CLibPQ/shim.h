// The whole C surface of libpq that Sampark uses. Only SamparkPostgres imports it.
//
// PG_DIAG_* are character macros ('C', 'M', ...), which Swift does not import as
// constants, so the diagnostic fields are re-stated here as an enum-friendly set of ints.
#ifndef SAMPARK_CLIBPQ_SHIM_H
#define SAMPARK_CLIBPQ_SHIM_H

#include <libpq-fe.h>
#include <postgres_ext.h>

static const int SAMPARK_PG_DIAG_SEVERITY = PG_DIAG_SEVERITY_NONLOCALIZED;
static const int SAMPARK_PG_DIAG_SQLSTATE = PG_DIAG_SQLSTATE;
static const int SAMPARK_PG_DIAG_MESSAGE_PRIMARY = PG_DIAG_MESSAGE_PRIMARY;
static const int SAMPARK_PG_DIAG_MESSAGE_DETAIL = PG_DIAG_MESSAGE_DETAIL;
static const int SAMPARK_PG_DIAG_MESSAGE_HINT = PG_DIAG_MESSAGE_HINT;
static const int SAMPARK_PG_DIAG_CONTEXT = PG_DIAG_CONTEXT;
static const int SAMPARK_PG_DIAG_SCHEMA_NAME = PG_DIAG_SCHEMA_NAME;
static const int SAMPARK_PG_DIAG_TABLE_NAME = PG_DIAG_TABLE_NAME;
static const int SAMPARK_PG_DIAG_COLUMN_NAME = PG_DIAG_COLUMN_NAME;
static const int SAMPARK_PG_DIAG_CONSTRAINT_NAME = PG_DIAG_CONSTRAINT_NAME;

#endif
