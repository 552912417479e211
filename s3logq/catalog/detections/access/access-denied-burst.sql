-- name: access-denied-burst
-- title: A burst of AccessDenied from one principal or IP
-- severity: medium
-- logs: access
-- technique: T1619
-- description: 403 responses to one requester (or, for anonymous requests, to one IP) on one bucket, counted
-- description: in fixed windows: enumeration of keys or buckets, or a stolen key trying what it can.
-- threshold: min_denied = 20: 403 responses to one principal or IP in one window
-- threshold: window_minutes = 5: the window's length (fixed windows from midnight UTC)
-- identity: bucket_name, actor, window_start
-- evidence: run access-denied --bucket {bucket_name} --requester {principal} --ip {source_ip} --since {window_start} --until {window_end}
WITH denied AS (
  SELECT *, to_timestamp(floor(epoch(request_time) / (60 * $window_minutes)) * (60 * $window_minutes)) AS window_start
  FROM access_log
  WHERE httpstatus = 403
    AND ($since IS NULL
         OR request_time >= to_timestamp(floor(epoch(CAST($since AS TIMESTAMPTZ)) / (60 * $window_minutes))
                                  * (60 * $window_minutes)))
    AND ($until IS NULL OR request_time < $until)
)
-- authenticated requests are grouped by requester, anonymous ones by IP
SELECT max(request_time) AS event_time, bucket_name, arg_max(key, request_time) AS object_key,
       requester AS principal, arg_max(remoteip, request_time) AS source_ip,
       count(*) || ' requests denied in ' || $window_minutes || ' minutes ('
         || array_to_string(list_sort(list_distinct(list(operation))), ', ') || ')' AS detail,
       window_start, window_start + $window_minutes * INTERVAL 1 MINUTE AS window_end,
       coalesce(requester, remoteip) AS actor, count(*) AS denied
FROM denied
GROUP BY bucket_name, requester, coalesce(requester, remoteip), window_start
HAVING count(*) >= $min_denied
ORDER BY event_time, bucket_name, principal, source_ip
