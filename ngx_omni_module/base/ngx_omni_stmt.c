
/*
 * The prepared statements, named after their enum so that a server log
 * line ("omni_member_create") points back to the code.
 */

#include "ngx_omni_stmt.h"


#define NGX_OMNI_STMT_ENTRY(name, sql)                                      \
    { ngx_string("omni_" #name), sql },

ngx_omni_stmt_t  ngx_omni_stmts[NGX_OMNI_STMT_N] = {
    NGX_OMNI_STATEMENTS(NGX_OMNI_STMT_ENTRY)
};
