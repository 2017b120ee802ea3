
/*
 * The seed's table of saved-reply rights (SPEC §2), exactly: one row per
 * role, read by every create, edit and delete.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "omni_reply_rules.h"


#define K(k)   (1u << (k))
#define P(p)   (1u << (p))
#define R(r)   (1u << (r))

#define OMNI_KINDS_ALL   (K(OMNI_REPLY_CUSTOM)|K(OMNI_REPLY_BOT))
#define OMNI_PERMS_ALL   (P(OMNI_PERM_ALL_MEMBERS)|P(OMNI_PERM_ONLY_ME)       \
                          |P(OMNI_PERM_ROLES)|P(OMNI_PERM_BRANCHES))
#define OMNI_ROLES_ALL   (R(OMNI_ROLE_ADMIN)|R(OMNI_ROLE_SUPERVISOR)          \
                          |R(OMNI_ROLE_CS_MANAGER)|R(OMNI_ROLE_CS_AGENT)     \
                          |R(OMNI_ROLE_SALES_MANAGER)                         \
                          |R(OMNI_ROLE_SALES_AGENT)|R(OMNI_ROLE_MARKETER)    \
                          |R(OMNI_ROLE_MARKETING_CS))


static const omni_reply_rule_t  omni_reply_rules[OMNI_ROLE_N] = {

    [OMNI_ROLE_ADMIN] = {
        OMNI_KINDS_ALL, OMNI_PERMS_ALL, OMNI_ROLES_ALL,
        OMNI_REPLY_BRANCHES_ANY, OMNI_REPLY_ALL, OMNI_REPLY_ALL },

    [OMNI_ROLE_SUPERVISOR] = {
        OMNI_KINDS_ALL,
        P(OMNI_PERM_ALL_MEMBERS)|P(OMNI_PERM_ONLY_ME)|P(OMNI_PERM_ROLES),
        R(OMNI_ROLE_SUPERVISOR)|R(OMNI_ROLE_CS_MANAGER)|R(OMNI_ROLE_CS_AGENT)
        |R(OMNI_ROLE_SALES_MANAGER)|R(OMNI_ROLE_SALES_AGENT)
        |R(OMNI_ROLE_MARKETER),
        OMNI_REPLY_BRANCHES_NONE, OMNI_REPLY_OWN, OMNI_REPLY_OWN },

    [OMNI_ROLE_CS_MANAGER] = {
        OMNI_KINDS_ALL,
        P(OMNI_PERM_ONLY_ME)|P(OMNI_PERM_ROLES),
        R(OMNI_ROLE_CS_MANAGER)|R(OMNI_ROLE_CS_AGENT),
        OMNI_REPLY_BRANCHES_NONE, OMNI_REPLY_OWN, OMNI_REPLY_OWN },

    [OMNI_ROLE_CS_AGENT] = {
        K(OMNI_REPLY_CUSTOM),
        P(OMNI_PERM_ONLY_ME)|P(OMNI_PERM_ROLES),
        R(OMNI_ROLE_CS_AGENT),
        OMNI_REPLY_BRANCHES_NONE, OMNI_REPLY_OWN, OMNI_REPLY_OWN },

    [OMNI_ROLE_SALES_MANAGER] = {
        K(OMNI_REPLY_CUSTOM),
        P(OMNI_PERM_ONLY_ME)|P(OMNI_PERM_BRANCHES),
        0,
        OMNI_REPLY_BRANCHES_BOUND, OMNI_REPLY_OWN, OMNI_REPLY_OWN },

    [OMNI_ROLE_SALES_AGENT] = {
        K(OMNI_REPLY_CUSTOM),
        P(OMNI_PERM_ONLY_ME)|P(OMNI_PERM_BRANCHES),
        0,
        OMNI_REPLY_BRANCHES_BOUND, OMNI_REPLY_OWN, OMNI_REPLY_OWN },

    /* edits, never deletes */
    [OMNI_ROLE_MARKETER] = {
        OMNI_KINDS_ALL,
        P(OMNI_PERM_ALL_MEMBERS)|P(OMNI_PERM_ROLES),
        OMNI_ROLES_ALL & ~R(OMNI_ROLE_MARKETING_CS),
        OMNI_REPLY_BRANCHES_NONE, OMNI_REPLY_OWN, OMNI_REPLY_NONE },

    [OMNI_ROLE_MARKETING_CS] = {
        OMNI_KINDS_ALL, OMNI_PERMS_ALL, OMNI_ROLES_ALL,
        OMNI_REPLY_BRANCHES_ANY, OMNI_REPLY_ALL, OMNI_REPLY_ALL },
};


static const char  *omni_reply_kind_names[OMNI_REPLY_KIND_N] = {
    "", "custom", "bot"
};


static const char  *omni_perm_names[OMNI_PERM_N] = {
    "", "all_members", "only_me", "roles", "branches"
};


static int omni_reply_refuse(omni_reply_refusal_t *why, const char *code,
    const char *fmt, ...);
static int omni_reply_bound(const omni_reply_actor_t *actor, int64_t id);


const omni_reply_rule_t *
omni_reply_rule(omni_role_e role)
{
    if (role <= OMNI_ROLE_NONE || role >= OMNI_ROLE_N) {
        return NULL;
    }

    return &omni_reply_rules[role];
}


int
omni_reply_may_give(const omni_reply_actor_t *actor,
    const omni_reply_grant_t *grant, omni_reply_refusal_t *why)
{
    int                       r;
    size_t                    i;
    const char               *role;
    const omni_reply_rule_t  *rule;

    rule = omni_reply_rule(actor->role);
    role = omni_role_name(actor->role);

    if (rule == NULL) {
        return omni_reply_refuse(why, "not_allowed",
                                 "This member may not manage saved replies");
    }

    if (grant->kind <= OMNI_REPLY_KIND_NONE
        || grant->kind >= OMNI_REPLY_KIND_N
        || !(rule->kinds & K(grant->kind)))
    {
        return omni_reply_refuse(why, "kind_not_allowed",
                                 "A %s may not create %s replies", role,
                                 omni_reply_kind_name(grant->kind));
    }

    if (grant->perm <= OMNI_PERM_NONE || grant->perm >= OMNI_PERM_N
        || !(rule->perms & P(grant->perm)))
    {
        return omni_reply_refuse(why, "permission_not_allowed",
                                 "A %s may not give the permission %s",
                                 role, omni_perm_name(grant->perm));
    }

    if (grant->perm == OMNI_PERM_ROLES) {
        for (r = OMNI_ROLE_ADMIN; r < OMNI_ROLE_N; r++) {
            if ((grant->roles & R(r)) && !(rule->roles & R(r))) {
                return omni_reply_refuse(why, "role_not_allowed",
                                         "A %s may not share a reply with "
                                         "the role %s", role,
                                         omni_role_name((omni_role_e) r));
            }
        }
    }

    if (grant->perm == OMNI_PERM_BRANCHES
        && rule->branches != OMNI_REPLY_BRANCHES_ANY)
    {
        for (i = 0; i < grant->nbranches; i++) {
            if (rule->branches == OMNI_REPLY_BRANCHES_NONE
                || !omni_reply_bound(actor, grant->branch_ids[i]))
            {
                return omni_reply_refuse(why, "branch_not_allowed",
                                         "A %s may share a reply only with "
                                         "the branches they are bound to, "
                                         "not branch %lld", role,
                                         (long long) grant->branch_ids[i]);
            }
        }
    }

    return 0;
}


int
omni_reply_may_manage(omni_role_e role, omni_reply_action_e action,
    int owner, omni_reply_refusal_t *why)
{
    unsigned                  reach;
    const char               *verb;
    const omni_reply_rule_t  *rule;

    rule = omni_reply_rule(role);
    verb = (action == OMNI_REPLY_DELETE) ? "delete" : "edit";

    if (rule == NULL) {
        return omni_reply_refuse(why, "not_allowed",
                                 "This member may not manage saved replies");
    }

    reach = (action == OMNI_REPLY_DELETE) ? rule->remove : rule->edit;

    if (reach == OMNI_REPLY_ALL || (reach == OMNI_REPLY_OWN && owner)) {
        return 0;
    }

    if (reach == OMNI_REPLY_NONE) {
        return omni_reply_refuse(why, "delete_not_allowed",
                                 "A %s may not %s saved replies",
                                 omni_role_name(role), verb);
    }

    return omni_reply_refuse(why, "not_reply_owner",
                             "A %s may %s only the saved replies they own",
                             omni_role_name(role), verb);
}


omni_reply_kind_e
omni_reply_kind_parse(const char *name, size_t len)
{
    int  k;

    for (k = OMNI_REPLY_CUSTOM; k < OMNI_REPLY_KIND_N; k++) {
        if (strlen(omni_reply_kind_names[k]) == len
            && memcmp(omni_reply_kind_names[k], name, len) == 0)
        {
            return (omni_reply_kind_e) k;
        }
    }

    return OMNI_REPLY_KIND_NONE;
}


omni_perm_e
omni_perm_parse(const char *name, size_t len)
{
    int  p;

    for (p = OMNI_PERM_ALL_MEMBERS; p < OMNI_PERM_N; p++) {
        if (strlen(omni_perm_names[p]) == len
            && memcmp(omni_perm_names[p], name, len) == 0)
        {
            return (omni_perm_e) p;
        }
    }

    return OMNI_PERM_NONE;
}


const char *
omni_reply_kind_name(omni_reply_kind_e kind)
{
    if (kind <= OMNI_REPLY_KIND_NONE || kind >= OMNI_REPLY_KIND_N) {
        return "unknown";
    }

    return omni_reply_kind_names[kind];
}


const char *
omni_perm_name(omni_perm_e perm)
{
    if (perm <= OMNI_PERM_NONE || perm >= OMNI_PERM_N) {
        return "unknown";
    }

    return omni_perm_names[perm];
}


static int
omni_reply_bound(const omni_reply_actor_t *actor, int64_t id)
{
    size_t  i;

    for (i = 0; i < actor->nbranches; i++) {
        if (actor->branch_ids[i] == id) {
            return 1;
        }
    }

    return 0;
}


static int
omni_reply_refuse(omni_reply_refusal_t *why, const char *code,
    const char *fmt, ...)
{
    va_list  args;

    why->code = code;

    va_start(args, fmt);
    vsnprintf(why->message, sizeof(why->message), fmt, args);
    va_end(args);

    return -1;
}
