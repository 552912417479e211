-- name: mass-deletion
-- title: Many objects deleted by one principal
-- severity: high
-- logs: access
-- technique: T1485
-- description: Successful object deletes (DELETE requests and each key of a multi-object delete) by one
-- description: requester (anonymous counted as one) on one bucket, counted in fixed windows.
-- threshold: min_objects = 100: objects deleted by one requester in one window
-- threshold: window_minutes = 10: the window's length (fixed windows from midnight UTC)
-- identity: bucket_name, principal, window_start
-- evidence: run deletions --bucket {bucket_name} --requester {principal} --since {window_start} --until {window_end}
WITH deletes AS (
  SELECT *, to_timestamp(floor(epoch(request_time) / (60 * $window_minutes)) * (60 * $window_minutes)) AS window_start
  FROM access_log
  WHERE operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT')
    AND httpstatus BETWEEN 200 AND 299
    AND ($since IS NULL
         OR request_time >= to_timestamp(floor(epoch(CAST($since AS TIMESTAMPTZ)) / (60 * $window_minutes))
                                  * (60 * $window_minutes)))
    AND ($until IS NULL OR request_time < $until)
)
SELECT max(request_time) AS event_time, bucket_name, arg_max(key, request_time) AS object_key,
       requester AS principal, arg_max(remoteip, request_time) AS source_ip,
       count(*) || ' objects deleted in ' || $window_minutes || ' minutes' AS detail,
       window_start, window_start + $window_minutes * INTERVAL 1 MINUTE AS window_end,
       count(*) AS objects
FROM deletes
GROUP BY bucket_name, requester, window_start
HAVING count(*) >= $min_objects
ORDER BY event_time, bucket_name, principal
