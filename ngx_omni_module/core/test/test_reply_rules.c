
/*
 * The seed's table of saved-reply rights, walked case by case: every role
 * x kind x permission type, every role a "roles" reply can name, bound and
 * unbound branches, and edit / delete of own and others' replies.  The
 * expectations are the SPEC's table written out again as text, so the
 * code's table is checked against the seed, not against itself.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_reply_rules.h"


/* SPEC §2, one line per role, as the seed has it */
static const struct {
    const char  *role;
    const char  *kinds;        /* " custom bot " */
    const char  *perms;        /* " all_members only_me roles branches " */
    const char  *roles;        /* the roles "roles" may name */
    const char  *branches;     /* "any", "bound", "" */
    const char  *edit;         /* "all", "own" */
    const char  *remove;       /* "all", "own", "" */
} spec[] = {
    { "admin", " custom bot ", " all_members only_me roles branches ",
      " admin supervisor cs_manager cs_agent sales_manager sales_agent"
      " marketer marketing_cs ", "any", "all", "all" },
    { "supervisor", " custom bot ", " all_members only_me roles ",
      " supervisor cs_manager cs_agent sales_manager sales_agent marketer ",
      "", "own", "own" },
    { "cs_manager", " custom bot ", " only_me roles ",
      " cs_manager cs_agent ", "", "own", "own" },
    { "cs_agent", " custom ", " only_me roles ", " cs_agent ", "",
      "own", "own" },
    { "sales_manager", " custom ", " only_me branches ", " ", "bound",
      "own", "own" },
    { "sales_agent", " custom ", " only_me branches ", " ", "bound",
      "own", "own" },
    { "marketer", " custom bot ", " all_members roles ",
      " admin supervisor cs_manager cs_agent sales_manager sales_agent"
      " marketer ", "", "own", "" },
    { "marketing_cs", " custom bot ", " all_members only_me roles branches ",
      " admin supervisor cs_manager cs_agent sales_manager sales_agent"
      " marketer marketing_cs ", "any", "all", "all" },
};


static int
listed(const char *list, const char *name)
{
    char  word[64];

    word[0] = ' ';
    strcpy(word + 1, name);
    strcat(word, " ");

    return strstr(list, word) != NULL;
}


static const int64_t  bound[] = { 11, 12 };


static omni_reply_actor_t
actor_of(omni_role_e role)
{
    omni_reply_actor_t  a;

    a.role = role;
    a.branch_ids = bound;
    a.nbranches = 2;

    return a;
}


static omni_role_e
role_of(size_t i)
{
    omni_role_e  role;

    role = omni_role_parse(spec[i].role, strlen(spec[i].role));
    assert_int_not_equal(role, OMNI_ROLE_NONE);

    return role;
}


static void
every_role_kind_and_permission_type(void **state)
{
    int                   k, p, expect, got;
    size_t                i;
    int64_t               branch;
    omni_reply_actor_t    a;
    omni_reply_grant_t    g;
    omni_reply_refusal_t  why;

    (void) state;
    branch = 11;

    for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        a = actor_of(role_of(i));

        for (k = OMNI_REPLY_CUSTOM; k < OMNI_REPLY_KIND_N; k++) {
            for (p = OMNI_PERM_ALL_MEMBERS; p < OMNI_PERM_N; p++) {
                memset(&g, 0, sizeof(g));
                g.kind = (omni_reply_kind_e) k;
                g.perm = (omni_perm_e) p;

                /* a grant the role surely may name, if any */
                g.roles = 1u << a.role;
                if (a.role == OMNI_ROLE_MARKETING_CS) {
                    g.roles = 1u << OMNI_ROLE_CS_AGENT;
                }
                g.branch_ids = &branch;
                g.nbranches = 1;

                expect = listed(spec[i].kinds, omni_reply_kind_name(g.kind))
                         && listed(spec[i].perms, omni_perm_name(g.perm));

                if (p == OMNI_PERM_ROLES && expect) {
                    expect = listed(spec[i].roles,
                                    omni_role_name(
                                        a.role == OMNI_ROLE_MARKETING_CS
                                        ? OMNI_ROLE_CS_AGENT : a.role));
                }

                got = omni_reply_may_give(&a, &g, &why) == 0;

                if (got != expect) {
                    fail_msg("%s, %s, %s: expected %s", spec[i].role,
                             omni_reply_kind_name(g.kind),
                             omni_perm_name(g.perm),
                             expect ? "allowed" : "refused");
                }

                if (!got) {
                    assert_non_null(why.code);
                    assert_non_null(strstr(why.message, spec[i].role));
                }
            }
        }
    }
}


static void
every_role_a_roles_reply_can_name(void **state)
{
    int                   r, expect, got;
    size_t                i;
    omni_reply_actor_t    a;
    omni_reply_grant_t    g;
    omni_reply_refusal_t  why;

    (void) state;

    for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        a = actor_of(role_of(i));

        if (!listed(spec[i].perms, "roles")) {
            continue;
        }

        for (r = OMNI_ROLE_ADMIN; r < OMNI_ROLE_N; r++) {
            memset(&g, 0, sizeof(g));
            g.kind = OMNI_REPLY_CUSTOM;
            g.perm = OMNI_PERM_ROLES;
            g.roles = 1u << r;

            expect = listed(spec[i].roles, omni_role_name((omni_role_e) r));
            got = omni_reply_may_give(&a, &g, &why) == 0;

            if (got != expect) {
                fail_msg("%s sharing with %s: expected %s", spec[i].role,
                         omni_role_name((omni_role_e) r),
                         expect ? "allowed" : "refused");
            }

            if (!got) {
                assert_string_equal(why.code, "role_not_allowed");
                assert_non_null(strstr(why.message,
                                       omni_role_name((omni_role_e) r)));
            }
        }

        /* one role too many refuses the whole grant */
        g.roles = 1u << OMNI_ROLE_ADMIN | 1u << OMNI_ROLE_CS_AGENT;
        expect = listed(spec[i].roles, "admin")
                 && listed(spec[i].roles, "cs_agent");
        assert_int_equal(omni_reply_may_give(&a, &g, &why) == 0, expect);
    }
}


static void
sales_roles_share_only_with_their_bound_branches(void **state)
{
    size_t                i;
    int64_t               mine[] = { 12, 11 }, mixed[] = { 11, 99 };
    omni_reply_actor_t    a;
    omni_reply_grant_t    g;
    omni_reply_refusal_t  why;

    (void) state;

    for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        if (!listed(spec[i].perms, "branches")) {
            continue;
        }

        a = actor_of(role_of(i));
        memset(&g, 0, sizeof(g));
        g.kind = OMNI_REPLY_CUSTOM;
        g.perm = OMNI_PERM_BRANCHES;

        g.branch_ids = mine;
        g.nbranches = 2;
        assert_int_equal(omni_reply_may_give(&a, &g, &why), 0);

        g.branch_ids = mixed;
        g.nbranches = 2;

        if (strcmp(spec[i].branches, "any") == 0) {
            assert_int_equal(omni_reply_may_give(&a, &g, &why), 0);
            continue;
        }

        assert_int_equal(omni_reply_may_give(&a, &g, &why), -1);
        assert_string_equal(why.code, "branch_not_allowed");
        assert_non_null(strstr(why.message, "99"));

        /* a member bound to no branch shares with none */
        a.nbranches = 0;
        g.branch_ids = mine;
        g.nbranches = 1;
        assert_int_equal(omni_reply_may_give(&a, &g, &why), -1);
    }
}


static void
edit_and_delete_of_own_and_others_replies(void **state)
{
    int                   owner, got, expect;
    size_t                i;
    const char           *reach;
    omni_reply_action_e   action;
    omni_reply_refusal_t  why;

    (void) state;

    for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        for (action = OMNI_REPLY_EDIT; action <= OMNI_REPLY_DELETE;
             action++)
        {
            reach = (action == OMNI_REPLY_EDIT) ? spec[i].edit
                                                : spec[i].remove;

            for (owner = 0; owner <= 1; owner++) {
                expect = strcmp(reach, "all") == 0
                         || (strcmp(reach, "own") == 0 && owner);
                got = omni_reply_may_manage(role_of(i), action, owner,
                                            &why) == 0;

                if (got != expect) {
                    fail_msg("%s %s %s reply: expected %s", spec[i].role,
                             action == OMNI_REPLY_EDIT ? "edits"
                                                       : "deletes",
                             owner ? "its own" : "another's",
                             expect ? "allowed" : "refused");
                }
            }
        }
    }

    assert_int_equal(omni_reply_may_manage(OMNI_ROLE_MARKETER,
                                           OMNI_REPLY_DELETE, 1, &why), -1);
    assert_string_equal(why.code, "delete_not_allowed");

    assert_int_equal(omni_reply_may_manage(OMNI_ROLE_CS_AGENT,
                                           OMNI_REPLY_EDIT, 0, &why), -1);
    assert_string_equal(why.code, "not_reply_owner");
}


static void
unknown_roles_kinds_and_types_are_refused(void **state)
{
    omni_reply_actor_t    a;
    omni_reply_grant_t    g;
    omni_reply_refusal_t  why;

    (void) state;

    assert_null(omni_reply_rule(OMNI_ROLE_NONE));
    assert_null(omni_reply_rule(OMNI_ROLE_N));

    a = actor_of(OMNI_ROLE_NONE);
    memset(&g, 0, sizeof(g));
    g.kind = OMNI_REPLY_CUSTOM;
    g.perm = OMNI_PERM_ONLY_ME;
    assert_int_equal(omni_reply_may_give(&a, &g, &why), -1);

    a = actor_of(OMNI_ROLE_ADMIN);
    g.kind = OMNI_REPLY_KIND_NONE;
    assert_int_equal(omni_reply_may_give(&a, &g, &why), -1);
    g.kind = OMNI_REPLY_CUSTOM;
    g.perm = OMNI_PERM_N;
    assert_int_equal(omni_reply_may_give(&a, &g, &why), -1);

    assert_int_equal(omni_reply_kind_parse("bot", 3), OMNI_REPLY_BOT);
    assert_int_equal(omni_reply_kind_parse("bots", 4), OMNI_REPLY_KIND_NONE);
    assert_int_equal(omni_perm_parse("only_me", 7), OMNI_PERM_ONLY_ME);
    assert_int_equal(omni_perm_parse("only", 4), OMNI_PERM_NONE);
    assert_string_equal(omni_perm_name(OMNI_PERM_BRANCHES), "branches");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_role_kind_and_permission_type),
        cmocka_unit_test(every_role_a_roles_reply_can_name),
        cmocka_unit_test(sales_roles_share_only_with_their_bound_branches),
        cmocka_unit_test(edit_and_delete_of_own_and_others_replies),
        cmocka_unit_test(unknown_roles_kinds_and_types_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
