-- name: throttling
-- title: Throttling (503 SlowDown)
-- description: Requests throttled with 503 SlowDown, counted per bucket, key prefix (first path segment) and
-- description: minute, to find the hot prefix; oldest first.
-- parameters: since, until, bucket, prefix, requester, operation, ip
-- columns: minute, bucket_name, key_prefix, throttled_requests, requesters
-- key_columns: minute, bucket_name, throttled_requests, key_prefix, requesters
SELECT date_trunc('minute', request_time) AS minute,
       bucket_name,
       CASE WHEN strpos(key, '/') > 0 THEN substr(key, 1, strpos(key, '/')) ELSE key END AS key_prefix,
       count(*) AS throttled_requests,
       count(DISTINCT requester) AS requesters
FROM access_log
WHERE httpstatus = 503 AND errorcode = 'SlowDown'
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($requester IS NULL OR strpos(requester, $requester) > 0)
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($ip IS NULL OR remoteip = $ip)
GROUP BY 1, 2, 3
ORDER BY minute, bucket_name, key_prefix NULLS LAST
