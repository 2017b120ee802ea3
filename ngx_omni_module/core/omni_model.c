
/*
 * Roles, plan features and channel types by name.
 */

#include <string.h>

#include "omni_model.h"


static const char  *omni_role_names[OMNI_ROLE_N] = {
    "",
    "admin",
    "supervisor",
    "cs_manager",
    "cs_agent",
    "sales_manager",
    "sales_agent",
    "marketer",
    "marketing_cs"
};


static const char  *omni_channel_names[OMNI_CHANNEL_N] = {
    "",
    "whatsapp",
    "messenger",
    "instagram",
    "line"
};


static const struct {
    const char  *name;
    uint32_t     bit;
} omni_features[] = {
    { "cs",                 OMNI_FEATURE_CS },
    { "omo",                OMNI_FEATURE_OMO },
    { "marketing_advanced", OMNI_FEATURE_MARKETING_ADVANCED },
    { "flagship",           OMNI_FEATURE_FLAGSHIP },
    { "social_cdp",         OMNI_FEATURE_SOCIAL_CDP },
    { "salesforce",         OMNI_FEATURE_SALESFORCE }
};


omni_role_e
omni_role_parse(const char *name, size_t len)
{
    int  i;

    for (i = 1; i < OMNI_ROLE_N; i++) {
        if (strlen(omni_role_names[i]) == len
            && memcmp(omni_role_names[i], name, len) == 0)
        {
            return (omni_role_e) i;
        }
    }

    return OMNI_ROLE_NONE;
}


const char *
omni_role_name(omni_role_e role)
{
    if (role <= OMNI_ROLE_NONE || role >= OMNI_ROLE_N) {
        return "";
    }

    return omni_role_names[role];
}


uint32_t
omni_feature_parse(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < sizeof(omni_features) / sizeof(omni_features[0]); i++) {
        if (strlen(omni_features[i].name) == len
            && memcmp(omni_features[i].name, name, len) == 0)
        {
            return omni_features[i].bit;
        }
    }

    return 0;
}


uint32_t
omni_feature_at(size_t i, const char **name)
{
    if (i >= sizeof(omni_features) / sizeof(omni_features[0])) {
        *name = "";
        return 0;
    }

    *name = omni_features[i].name;

    return omni_features[i].bit;
}


uint32_t
omni_plan_parse_array(const char *text, size_t len)
{
    size_t       i, start;
    uint32_t     plan;
    const char  *p;

    /* "{cs,omo}": feature names never need quoting in PostgreSQL output */
    if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
        return 0;
    }

    p = text + 1;
    len -= 2;
    plan = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || p[i] == ',') {
            plan |= omni_feature_parse(p + start, i - start);
            start = i + 1;
        }
    }

    return plan;
}


omni_channel_e
omni_channel_parse(const char *name, size_t len)
{
    int  i;

    for (i = 1; i < OMNI_CHANNEL_N; i++) {
        if (strlen(omni_channel_names[i]) == len
            && memcmp(omni_channel_names[i], name, len) == 0)
        {
            return (omni_channel_e) i;
        }
    }

    return OMNI_CHANNEL_NONE;
}


const char *
omni_channel_name(omni_channel_e channel)
{
    if (channel <= OMNI_CHANNEL_NONE || channel >= OMNI_CHANNEL_N) {
        return "";
    }

    return omni_channel_names[channel];
}
