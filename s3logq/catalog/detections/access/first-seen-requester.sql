-- name: first-seen-requester
-- title: A requester or IP never seen before on the bucket
-- severity: low
-- logs: access
-- technique: T1078.004
-- description: The first request of a requester, or from an IP, to a bucket in the lake's whole history, on a
-- description: bucket that has been logged for long enough to know its usual clients. AWS service requesters
-- description: (svc:...) and lifecycle actions are left out.
-- threshold: min_history_days = 7: the bucket's logs must go back this many days before the first request
-- identity: bucket_name, actor_kind, actor
-- history: all
-- evidence: run requests --bucket {bucket_name} --requester {principal} --ip {source_ip} --since {event_time}
WITH requests AS (
  SELECT * FROM access_log
  WHERE operation LIKE 'REST.%'
    AND coalesce(requester, '') NOT LIKE 'svc:%'
    AND ($until IS NULL OR request_time < $until)
),
actors AS (
  SELECT bucket_name, 'requester' AS actor_kind, requester AS actor, request_time, remoteip, requester, key,
         operation, log_file, log_line
  FROM requests WHERE requester IS NOT NULL
  UNION ALL
  SELECT bucket_name, 'ip', remoteip, request_time, remoteip, requester, key, operation, log_file, log_line
  FROM requests WHERE remoteip IS NOT NULL
),
first_times AS (
  -- a hash aggregate first: ranking every request of every actor sorted 3.4 M rows (1.5 s on the bench lake)
  SELECT bucket_name, actor_kind, actor, min(request_time) AS first_time
  FROM actors
  GROUP BY bucket_name, actor_kind, actor
),
ranked AS (
  -- each actor's first request on the bucket: the earliest, then the first in the log files (a tie in time)
  SELECT a.*, row_number() OVER (PARTITION BY a.bucket_name, a.actor_kind, a.actor
                                 ORDER BY a.log_file, a.log_line) AS actor_rank
  FROM actors AS a
  JOIN first_times AS t
    ON a.bucket_name = t.bucket_name AND a.actor_kind = t.actor_kind AND a.actor = t.actor
   AND a.request_time = t.first_time
),
firsts AS (
  SELECT bucket_name, actor_kind, actor, request_time AS first_time, remoteip, requester, key, operation
  FROM ranked
  WHERE actor_rank = 1
),
bucket_history AS (
  SELECT bucket_name, min(request_time) AS first_logged FROM access_log GROUP BY bucket_name
)
SELECT f.first_time AS event_time, f.bucket_name, f.key AS object_key, f.requester AS principal,
       f.remoteip AS source_ip, 'first request from this ' || f.actor_kind || ' (' || f.operation || ')' AS detail,
       f.actor_kind, f.actor
FROM firsts AS f
JOIN bucket_history AS h USING (bucket_name)
WHERE ($since IS NULL OR f.first_time >= $since)
  AND f.first_time >= h.first_logged + $min_history_days * INTERVAL 1 DAY
ORDER BY event_time, bucket_name, actor_kind, actor
