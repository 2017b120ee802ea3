-- 006: leases of the job runner's ONE_PER_FLEET jobs.  One row a job:
-- who holds it (host name and pid of an nginx worker) and until when.
-- The holder renews it well before it expires; a holder that dies stops
-- renewing, and the row is anyone's once expired.  Times are the
-- database's own clock, so the hosts' clocks never have to agree.

CREATE TABLE omni_job_leases (
    job          text PRIMARY KEY CHECK (job ~ '^[a-z_]{1,31}$'),
    holder_host  text NOT NULL,
    holder_pid   int NOT NULL,
    expires_at   timestamptz NOT NULL,
    taken_at     timestamptz NOT NULL DEFAULT now()
);

-- take or renew in one statement: true when (host, pid) holds the lease
-- for the next p_ttl_ms, false when someone else does.  Two takers at
-- once: the second waits on the first one's row lock, then finds an
-- unexpired row that is not its own, and updates nothing.
CREATE FUNCTION omni_job_lease(p_job text, p_host text, p_pid int,
    p_ttl_ms int) RETURNS boolean
LANGUAGE sql AS $$
    WITH taken AS (
        INSERT INTO omni_job_leases AS l (job, holder_host, holder_pid,
                                          expires_at)
        VALUES (p_job, p_host, p_pid,
                now() + p_ttl_ms * interval '1 millisecond')
        ON CONFLICT (job) DO UPDATE
           SET holder_host = excluded.holder_host,
               holder_pid = excluded.holder_pid,
               expires_at = excluded.expires_at,
               taken_at = CASE WHEN l.holder_host = excluded.holder_host
                                AND l.holder_pid = excluded.holder_pid
                               THEN l.taken_at ELSE now() END
         WHERE l.expires_at < now()
            OR (l.holder_host = excluded.holder_host
                AND l.holder_pid = excluded.holder_pid)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM taken)
$$;

-- a holder that stops gives the lease back at once
CREATE FUNCTION omni_job_release(p_job text, p_host text, p_pid int)
RETURNS boolean LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM omni_job_leases
         WHERE job = p_job AND holder_host = p_host AND holder_pid = p_pid
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM gone)
$$;

-- rows of holders that went away without giving them back
CREATE FUNCTION omni_job_lease_sweep() RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM omni_job_leases WHERE expires_at < now() RETURNING 1
    )
    SELECT count(*) FROM gone
$$;

INSERT INTO omni_schema_migrations (version) VALUES (6);
