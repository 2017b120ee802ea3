
/*
 * Who may manage which saved reply: the seed's table (SPEC §2) as one
 * table, one row per role.  A create, and an edit (judged as a create of
 * the reply as it would be after the edit), must name a kind, a
 * permission type, roles and branches that the role's row allows; edit
 * and delete rights are per row, over the member's own replies or every
 * reply of the tenant.  Pure C: no nginx, no I/O.
 */

#ifndef _OMNI_REPLY_RULES_H_INCLUDED_
#define _OMNI_REPLY_RULES_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_model.h"


typedef enum {
    OMNI_REPLY_KIND_NONE = 0,
    OMNI_REPLY_CUSTOM,
    OMNI_REPLY_BOT,
    OMNI_REPLY_KIND_N
} omni_reply_kind_e;


typedef enum {
    OMNI_PERM_NONE = 0,
    OMNI_PERM_ALL_MEMBERS,
    OMNI_PERM_ONLY_ME,
    OMNI_PERM_ROLES,
    OMNI_PERM_BRANCHES,
    OMNI_PERM_N
} omni_perm_e;


/* over which replies a right reaches */
#define OMNI_REPLY_NONE      0
#define OMNI_REPLY_OWN       1         /* the member's own */
#define OMNI_REPLY_ALL       2         /* every reply of the tenant */

/* which branches a role may name with "branches" */
#define OMNI_REPLY_BRANCHES_NONE   0
#define OMNI_REPLY_BRANCHES_BOUND  1   /* those the member is bound to */
#define OMNI_REPLY_BRANCHES_ANY    2


typedef struct {
    unsigned            kinds;         /* 1 << omni_reply_kind_e */
    unsigned            perms;         /* 1 << omni_perm_e */
    uint32_t            roles;         /* 1 << omni_role_e, for "roles" */
    unsigned            branches;      /* OMNI_REPLY_BRANCHES_* */
    unsigned            edit;          /* OMNI_REPLY_NONE / _OWN / _ALL */
    unsigned            remove;
} omni_reply_rule_t;


/* what a reply gives: its kind and who sees and uses it */
typedef struct {
    omni_reply_kind_e   kind;
    omni_perm_e         perm;
    uint32_t            roles;         /* 1 << omni_role_e */
    const int64_t      *branch_ids;
    size_t              nbranches;
} omni_reply_grant_t;


/* the member asking */
typedef struct {
    omni_role_e         role;
    const int64_t      *branch_ids;    /* bound to */
    size_t              nbranches;
} omni_reply_actor_t;


typedef enum {
    OMNI_REPLY_EDIT = 0,
    OMNI_REPLY_DELETE
} omni_reply_action_e;


typedef struct {
    const char         *code;          /* snake_case, for a 403 */
    char                message[160];
} omni_reply_refusal_t;


/* the role's row; NULL for OMNI_ROLE_NONE or out of range */
const omni_reply_rule_t *omni_reply_rule(omni_role_e role);

/* 0: the actor may create (or edit into) this reply; -1 with *why */
int omni_reply_may_give(const omni_reply_actor_t *actor,
    const omni_reply_grant_t *grant, omni_reply_refusal_t *why);

/* 0: the actor may edit / delete a reply it owns or not; -1 with *why */
int omni_reply_may_manage(omni_role_e role, omni_reply_action_e action,
    int owner, omni_reply_refusal_t *why);

/* wire names; NONE when unknown */
omni_reply_kind_e omni_reply_kind_parse(const char *name, size_t len);
omni_perm_e omni_perm_parse(const char *name, size_t len);
const char *omni_reply_kind_name(omni_reply_kind_e kind);
const char *omni_perm_name(omni_perm_e perm);


#endif /* _OMNI_REPLY_RULES_H_INCLUDED_ */
