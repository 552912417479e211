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
firsts AS (
  SELECT bucket_name, actor_kind, actor, min(request_time) AS first_time,
         arg_min_null(remoteip, (request_time, log_file, log_line)) AS remoteip,
         arg_min_null(requester, (request_time, log_file, log_line)) AS requester,
         arg_min_null(key, (request_time, log_file, log_line)) AS key,
         arg_min_null(operation, (request_time, log_file, log_line)) AS operation
  FROM actors
  GROUP BY bucket_name, actor_kind, actor
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
  AND f.first_time >= h.first_logged + to_days(CAST($min_history_days AS INTEGER))
ORDER BY event_time, bucket_name, actor_kind, actor
