
/*
 * The product's vocabulary: member roles, plan features and channel
 * types, with their wire names (SPEC §0).  Pure C: no nginx, no I/O.
 */

#ifndef _OMNI_MODEL_H_INCLUDED_
#define _OMNI_MODEL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OMNI_MAX_BRANCHES  32


typedef enum {
    OMNI_ROLE_NONE = 0,
    OMNI_ROLE_ADMIN,
    OMNI_ROLE_SUPERVISOR,
    OMNI_ROLE_CS_MANAGER,
    OMNI_ROLE_CS_AGENT,
    OMNI_ROLE_SALES_MANAGER,
    OMNI_ROLE_SALES_AGENT,
    OMNI_ROLE_MARKETER,
    OMNI_ROLE_MARKETING_CS,
    OMNI_ROLE_N
} omni_role_e;


typedef enum {
    OMNI_CHANNEL_NONE = 0,
    OMNI_CHANNEL_WHATSAPP,
    OMNI_CHANNEL_MESSENGER,
    OMNI_CHANNEL_INSTAGRAM,
    OMNI_CHANNEL_LINE,
    OMNI_CHANNEL_N
} omni_channel_e;


#define OMNI_FEATURE_CS                  0x01
#define OMNI_FEATURE_OMO                 0x02
#define OMNI_FEATURE_MARKETING_ADVANCED  0x04
#define OMNI_FEATURE_FLAGSHIP            0x08
#define OMNI_FEATURE_SOCIAL_CDP          0x10
#define OMNI_FEATURE_SALESFORCE          0x20

/* the plans whose Pixel captures phones and logs (SPEC §4) */
#define OMNI_FEATURES_PIXEL                                                  \
    (OMNI_FEATURE_MARKETING_ADVANCED|OMNI_FEATURE_FLAGSHIP                   \
     |OMNI_FEATURE_SOCIAL_CDP)


/*
 * The plans whose staff message customers: customer service, OMO sales
 * and the marketing plans (all but a Salesforce-only plan)
 */
#define OMNI_FEATURES_MESSAGING                                              \
    (OMNI_FEATURE_CS|OMNI_FEATURE_OMO|OMNI_FEATURES_PIXEL)


/* name (not NUL-terminated) -> role; OMNI_ROLE_NONE when unknown */
omni_role_e omni_role_parse(const char *name, size_t len);
const char *omni_role_name(omni_role_e role);

/* one feature name -> its bit; 0 when unknown */
uint32_t omni_feature_parse(const char *name, size_t len);

/* the i-th feature (i from 0): its bit and name; 0 past the last */
uint32_t omni_feature_at(size_t i, const char **name);

/*
 * A PostgreSQL text[] literal ("{cs,omo}") -> bit set.  Unknown names
 * are ignored: a newer schema may know features this module does not.
 */
uint32_t omni_plan_parse_array(const char *text, size_t len);

/* "whatsapp", "messenger", "instagram", "line"; OMNI_CHANNEL_NONE else */
omni_channel_e omni_channel_parse(const char *name, size_t len);
const char *omni_channel_name(omni_channel_e channel);


#endif /* _OMNI_MODEL_H_INCLUDED_ */
